//! The bounded contexts' models, each decided by applying its internal topic, and the relays'
//! translations between their public and internal topics.

pub mod catalog;
pub mod checkout;
pub mod content;
pub mod fulfilment;
pub mod id;
pub mod relay;
pub mod search;
pub mod stock;

/// `look(table, at)` for each of the items `0..hashes.len()`, in order: the items grouped by the
/// shard of their hash (`shard_of`), each shard's table locked once (`lock`) for its group.
pub(crate) fn in_shards<G: std::ops::DerefMut, T>(
    hashes: &[u64],
    shard_of: impl Fn(u64) -> usize,
    lock: impl Fn(u64) -> G,
    mut look: impl FnMut(&mut G::Target, usize) -> Option<T>,
) -> Vec<Option<T>> {
    let mut found: Vec<Option<T>> = std::iter::repeat_with(|| None).take(hashes.len()).collect();
    by_shard(
        hashes.len(),
        |at| shard_of(hashes[at]),
        |run| {
            let mut table = lock(hashes[run[0]]);
            for &at in run {
                found[at] = look(&mut table, at);
            }
        },
    );
    found
}

/// Calls `run` with the items `0..count` grouped by their shard (`shard_of`, numbered from 0, a
/// few dozen), one group a shard, each in the items' order: a batch of look-ups in a sharded
/// table locks each shard once, for its group, and the look-ups of a group overlap (behind a lock
/// taken per item, each waited for the last one's memory). Grouped by counting: a comparison
/// sort asked two shards a comparison, a fifth of a snapshot load's instructions.
pub(crate) fn by_shard(
    count: usize,
    shard_of: impl Fn(usize) -> usize,
    mut run: impl FnMut(&[usize]),
) {
    let shards: Vec<usize> = (0..count).map(shard_of).collect();
    let groups = shards.iter().max().map_or(0, |&last| last + 1);
    // Where each shard's group starts in `order`, and (the last) where the groups end.
    let mut starts = vec![0; groups + 1];
    for &shard in &shards {
        starts[shard + 1] += 1;
    }
    for shard in 1..starts.len() {
        starts[shard] += starts[shard - 1];
    }
    let mut next = starts.clone();
    let mut order = vec![0; count];
    for (at, &shard) in shards.iter().enumerate() {
        order[next[shard]] = at;
        next[shard] += 1;
    }
    for bounds in starts.windows(2) {
        if bounds[0] < bounds[1] {
            run(&order[bounds[0]..bounds[1]]);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn by_shard_hands_every_item_once_in_runs_of_one_shard() {
        let shard_of = |at: usize| (at * 7) % 5;
        let mut runs = Vec::new();
        super::by_shard(23, shard_of, |run| runs.push(run.to_vec()));
        let mut seen: Vec<usize> = runs.concat();
        seen.sort_unstable();
        assert_eq!(seen, (0..23).collect::<Vec<_>>());
        assert_eq!(runs.len(), 5);
        assert!(runs
            .iter()
            .all(|run| run.iter().all(|&at| shard_of(at) == shard_of(run[0]))));
        assert!(
            runs.iter().all(|run| run.windows(2).all(|w| w[0] < w[1])),
            "each group in the items' order"
        );
        // A shard without items makes no group; no items, no call.
        let mut runs = Vec::new();
        let even_in_3 = |at: usize| if at % 2 == 0 { 3 } else { 0 };
        super::by_shard(6, even_in_3, |run| runs.push(run.to_vec()));
        assert_eq!(runs, [vec![1, 3, 5], vec![0, 2, 4]]);
        super::by_shard(0, |_| 0, |_| panic!("no items, no group"));
    }
}
