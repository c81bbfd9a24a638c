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

/// Calls `run` with the items `0..count` grouped by their shard (`shard_of`), one group a shard:
/// a batch of look-ups in a sharded table locks each shard once, for its group, and the look-ups
/// of a group overlap (behind a lock taken per item, each waited for the last one's memory).
pub(crate) fn by_shard(
    count: usize,
    shard_of: impl Fn(usize) -> usize,
    mut run: impl FnMut(&[usize]),
) {
    let mut order: Vec<usize> = (0..count).collect();
    order.sort_unstable_by_key(|&at| shard_of(at));
    order
        .chunk_by(|&a, &b| shard_of(a) == shard_of(b))
        .for_each(&mut run);
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
    }
}
