use super::query::{Request, SearchSort};
use super::*;
use crate::codec::pim;
use crate::snapshot::Identity;

fn product(id: &str, name: &str, category: &str, description: &str, price: i64) -> pim::Product {
    pim::Product {
        id: id.into(),
        name: name.into(),
        category: category.into(),
        description: description.into(),
        price,
        ..Default::default()
    }
}

fn op(pim_offset: i64, product: &pim::Product) -> Op {
    let change = if product.disabled {
        Change::Disable(product.id.as_str().into())
    } else {
        Change::Upsert(Product::from_pim(product))
    };
    Op {
        offset: pim_offset,
        pim_offset,
        change,
    }
}

fn catalog(products: &[pim::Product]) -> Search {
    let mut search = Search::default();
    let ops: Vec<Op> = products
        .iter()
        .enumerate()
        .map(|(i, p)| op(i as i64, p))
        .collect();
    search.apply_batch(&ops);
    search
}

fn sample() -> Search {
    catalog(&[
        product("a", "Red shoe", "shoes", "for running", 5000),
        product("b", "Blue shirt", "shirts", "a shoe print on it", 2000),
        product("c", "Running trainers", "shoes", "light", 9000),
        product("d", "Shoehorn", "tools", "for any shoe", 500),
    ])
}

fn request(q: &str) -> Request<'_> {
    Request {
        q,
        category: None,
        price_min: None,
        price_max: None,
        sort: SearchSort::Relevance,
        page: 1,
        per_page: 10,
    }
}

fn ids(search: &Search, request: &Request<'_>) -> Vec<String> {
    let hits = search.search(request);
    hits.items
        .iter()
        .map(|doc| doc.product.id().to_string())
        .collect()
}

#[test]
fn names_rank_above_descriptions_and_whole_words_above_prefixes() {
    let search = sample();
    // "shoe" is a's name, b's and d's description; d's name "shoehorn" and c's category
    // "shoes" only start with it, which counts while one types.
    assert_eq!(ids(&search, &request("shoe")), ["a", "d", "c", "b"]);
    assert_eq!(ids(&search, &request("shoe ")), ["a", "b", "d"]);
    assert_eq!(ids(&search, &request("running")), ["c", "a"]);
}

#[test]
fn typos_are_allowed_by_length() {
    let search = sample();
    assert_eq!(ids(&search, &request("trainres")), ["c"]);
    assert_eq!(ids(&search, &request("sheo ")), Vec::<String>::new());
    assert_eq!(
        search.search(&request("sheo ")).did_you_mean.as_deref(),
        Some("shoe")
    );
}

#[test]
fn filters_and_facets() {
    let search = sample();
    let mut shoes = request("");
    shoes.category = Some("shoes");
    assert_eq!(ids(&search, &shoes), ["a", "c"]);
    shoes.price_max = Some(6000);
    let hits = search.search(&shoes);
    assert_eq!(hits.total, 1);
    // Categories counted under the price filter, prices under the category filter.
    assert_eq!(
        hits.facets.categories,
        [("shirts", 1), ("shoes", 1), ("tools", 1)]
    );
    assert_eq!(hits.facets.prices, [0, 0, 0, 2, 0]);
    let mut by_price = request("");
    by_price.sort = SearchSort::Price;
    assert_eq!(ids(&search, &by_price), ["d", "b", "a", "c"]);
}

#[test]
fn changes_disables_and_duplicates() {
    let mut search = sample();
    let mut renamed = product("a", "Green boot", "shoes", "", 5000);
    search.apply(&op(10, &renamed));
    assert!(ids(&search, &request("red")).is_empty());
    assert_eq!(ids(&search, &request("boot")), ["a"]);
    // Bridged twice: an older pim offset changes nothing.
    search.apply(&op(3, &product("a", "Old", "x", "", 1)));
    assert_eq!(ids(&search, &request("boot")), ["a"]);
    renamed.disabled = true;
    search.apply(&op(11, &renamed));
    assert!(ids(&search, &request("boot")).is_empty());
    assert_eq!(search.len(), 3);
    assert_eq!(
        search.suggest("sh"),
        ["shoe", "shirt", "shirts", "shoehorn", "shoes"]
    );
    assert_eq!(
        search.suggest("blue sh"),
        ["blue shirt", "blue shirts", "blue shoe"]
    );
}

#[test]
fn a_new_price_moves_a_product_between_price_filters_and_keeps_its_words() {
    let mut search = sample();
    let postings = search.postings_bytes();
    search.apply(&op(
        10,
        &product("a", "Red shoe", "shoes", "for running", 150),
    ));
    let mut cheap = request("shoe");
    cheap.price_max = Some(600);
    assert_eq!(ids(&search, &cheap), ["a", "d"]);
    cheap.price_min = Some(5000);
    cheap.price_max = None;
    assert_eq!(ids(&search, &cheap), ["c"]);
    assert_eq!(search.search(&request("red shoe")).items[0].price, 150);
    assert_eq!(search.postings_bytes(), postings);
    assert_eq!(
        search.search(&request("shoe")).facets.prices,
        [2, 1, 0, 1, 0]
    );
}

#[test]
fn snapshot_round_trip_answers_the_same() {
    let mut search = sample();
    search.apply(&op(
        9,
        &pim::Product {
            disabled: true,
            ..product("b", "", "", "", 0)
        },
    ));
    let identity = Identity {
        topic: "search_internal".into(),
        topic_id: "t".into(),
        cluster_id: "c".into(),
    };
    // Without its word pairs, "0" would rank first (by id).
    search.apply(&op(10, &product("0", "Shoe red", "", "", 1)));
    let bytes = snapshot::serialize(&identity, &search);
    let loaded: Search = snapshot::read(&bytes, &identity, 100).expect("loads");
    assert_eq!(ids(&loaded, &request("red shoe")), ["a", "0"]);
    for q in ["shoe", "sh", "runing", "", "sheoh"] {
        assert_eq!(ids(&loaded, &request(q)), ids(&search, &request(q)));
    }
    assert_eq!(loaded.suggest("s"), search.suggest("s"));
    assert_eq!(loaded.offset(), 10);
}

#[test]
fn a_product_moved_to_another_category_is_counted_and_filtered_there() {
    let mut search = sample();
    search.apply(&op(
        10,
        &product("a", "Red shoe", "tools", "for running", 5000),
    ));
    let hits = search.search(&request(""));
    assert_eq!(
        hits.facets.categories,
        [("tools", 2), ("shirts", 1), ("shoes", 1)]
    );
    let mut tools = request("shoe");
    tools.category = Some("tools");
    assert_eq!(ids(&search, &tools), ["a", "d"]);
    tools.category = Some("shoes");
    assert_eq!(ids(&search, &tools), ["c"]);
    assert_eq!(search.len(), 4);
}

#[test]
fn neighbouring_words_rank_above_words_apart_and_below_typos() {
    let search = catalog(&[
        product("apart", "Shoe with red laces", "misc", "", 100),
        product("category", "Boot", "red shoe", "", 100),
        product("described", "Red", "misc", "a red shoe", 100),
        product("near", "Red shoe", "misc", "", 100),
        product("reversed", "Shoe, red", "misc", "", 100),
    ]);
    // Neighbours in the name or category, in order, rank first, even in a worse field; the
    // description's neighbours do not count.
    assert_eq!(
        ids(&search, &request("red shoe ")),
        ["near", "category", "apart", "reversed", "described"]
    );
    let typos = catalog(&[
        product("typo", "Waterprof jacket", "", "", 100),
        product("apart", "Jacket, waterproof", "", "", 100),
    ]);
    assert_eq!(
        ids(&typos, &request("waterproof jacket")),
        ["apart", "typo"]
    );
}

#[test]
fn proximity_follows_changes_and_counts_every_pair() {
    let mut search = catalog(&[
        product("a", "Shoe red", "", "", 100),
        product("b", "Red shoe", "", "", 100),
    ]);
    assert_eq!(ids(&search, &request("red shoe")), ["b", "a"]);
    search.apply(&op(5, &product("b", "Shoe red", "", "", 100)));
    assert_eq!(ids(&search, &request("red shoe")), ["a", "b"]);
    let three = catalog(&[
        product("none", "Big shoe red", "", "", 100),
        product("one", "Big red laces shoe", "", "", 100),
        product("two", "Big red shoe", "", "", 100),
    ]);
    // The last word typed as a prefix counts too: "sho" with "shoe".
    assert_eq!(ids(&three, &request("big red sho")), ["two", "one", "none"]);
}

#[test]
fn word_pairs_move_with_a_product_to_another_categorys_chunk() {
    let mut search = catalog(&[
        product("a", "Shoe red", "x", "", 100),
        product("b", "Red shoe", "x", "", 100),
    ]);
    // b leaves its slot for one in a chunk of "y"; c, apart, takes the slot b left.
    search.apply(&op(5, &product("b", "Red shoe", "y", "", 100)));
    search.apply(&op(6, &product("c", "Shoe, red", "x", "", 100)));
    assert_eq!(ids(&search, &request("red shoe")), ["b", "a", "c"]);
    assert_eq!(ids(&search, &request("red sh")), ["b", "a", "c"]);
}

#[test]
fn the_last_word_typed_matches_starts_within_its_typos() {
    let search = sample();
    assert_eq!(ids(&search, &request("sheoh")), ["d"]);
    assert!(ids(&search, &request("sheoh ")).is_empty());
    // d's name starts with "shoeh", a typo of "shoes": a typo in the name, above b's in its
    // description; a and c hold "shoes" itself.
    assert_eq!(ids(&search, &request("shoes")), ["a", "c", "d", "b"]);
    assert_eq!(search.suggest("sheoh"), ["shoehorn"]);
    // Completions without typos first, then by how many products hold them.
    assert_eq!(search.suggest("shoes"), ["shoes", "shoe", "shoehorn"]);
    assert_eq!(search.suggest("blue shoez"), ["blue shoe"]);
}

/// A bridged catalog_internal message changing `product` at `pim_offset`.
fn bridged(pim_offset: i64, product: &pim::Product) -> Vec<u8> {
    use crate::codec::catalog::{internal_message::Event, InternalMessage, ProductChanged};
    use prost::Message;
    InternalMessage {
        event: Some(Event::ProductChanged(ProductChanged {
            product: Some(product.clone()),
            pim_offset,
        })),
    }
    .encode_to_vec()
}

/// The product the search holds under `id`.
fn held(search: &Search, id: &str) -> Product {
    let slot = search.slots.get(&search.docs, id).expect("indexed");
    search.product_doc(slot).product.clone()
}

#[test]
fn the_catalog_and_the_search_hold_one_copy_of_each_product() {
    let events = [
        bridged(1, &product("shared-a", "Oak table", "tables", "solid", 100)),
        bridged(2, &product("shared-b", "Pine table", "tables", "", 90)),
        bridged(3, &product("shared-a", "Oak table", "tables", "oiled", 120)),
    ];
    let (mut shop, mut search) = (catalog::Catalog::new(), Search::default());
    for (offset, bytes) in events.iter().enumerate() {
        shop.apply(&catalog::decode(offset as i64, bytes).expect("decodes"));
        search.apply(&<Search as Model>::decode(offset as i64, bytes).expect("decodes"));
    }
    for id in ["shared-a", "shared-b"] {
        assert!(shop.get(id).expect("enabled").same(&held(&search, id)));
    }
    // Loaded from their snapshots, they share them again.
    let identity = Identity {
        topic: "t".into(),
        topic_id: "t".into(),
        cluster_id: "c".into(),
    };
    let shop: catalog::Catalog =
        snapshot::read(&snapshot::serialize(&identity, &shop), &identity, 2).expect("loads");
    let search: Search =
        snapshot::read(&snapshot::serialize(&identity, &search), &identity, 2).expect("loads");
    assert!(shop
        .get("shared-a")
        .expect("enabled")
        .same(&held(&search, "shared-a")));
}

#[test]
fn pages_of_a_large_group_follow_the_ids_through_changes() {
    // One group of thousands of slots (every name holds "alpha"): a page reads its first id
    // bands only, which must follow products added, moved to another category and disabled.
    let id = |n: u64| format!("{:016x}", n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut products: Vec<pim::Product> = (0..20_000u64)
        .map(|n| product(&id(n), "alpha", &format!("c{}", n % 7), "", 100))
        .collect();
    let mut search = catalog(&products);
    let changes: Vec<Op> = (0..20_000u64)
        .step_by(5)
        .map(|n| {
            let p = &mut products[n as usize];
            match n % 3 {
                0 => p.disabled = true,
                1 => p.category = "elsewhere".into(),
                _ => p.price = 200,
            }
            op(20_000 + n as i64, p)
        })
        .collect();
    search.apply_batch(&changes);
    // New products take the slots the disabled ones freed.
    let added: Vec<pim::Product> = (20_000..21_000u64)
        .map(|n| product(&id(n), "alpha", &format!("c{}", n % 7), "", 100))
        .collect();
    let ops: Vec<Op> = (added.iter().enumerate())
        .map(|(i, p)| op(50_000 + i as i64, p))
        .collect();
    search.apply_batch(&ops);
    products.extend(added);
    assert!(search.id_bands.hold_exactly(&search.id_keys, &search.live));
    let mut expected: Vec<String> = products
        .iter()
        .filter(|p| !p.disabled)
        .map(|p| p.id.clone())
        .collect();
    expected.sort();
    for (page, per_page) in [(1, 24), (2, 24), (2, 100), (3, 100), (40, 24)] {
        let asked = Request {
            page,
            per_page,
            ..request("alpha ")
        };
        let skip = (page - 1) * per_page;
        assert_eq!(ids(&search, &asked), expected[skip..skip + per_page]);
    }
    // A snapshot start makes the bands once, from the slots it loads.
    let identity = Identity {
        topic: "search_internal".into(),
        topic_id: "t".into(),
        cluster_id: "c".into(),
    };
    let bytes = snapshot::serialize(&identity, &search);
    let loaded: Search = snapshot::read(&bytes, &identity, 60_000).expect("loads");
    assert!(loaded.id_bands.hold_exactly(&loaded.id_keys, &loaded.live));
    assert_eq!(ids(&loaded, &request("alpha")), expected[..10]);
}

#[test]
fn a_batch_reaches_the_state_of_its_ops_applied_one_by_one() {
    // The inserts held back for a slot are made before its words are removed.
    let ops = changes_in_one_batch();
    let mut batched = Search::default();
    batched.apply_batch(&ops);
    let mut one_by_one = Search::default();
    ops.iter().for_each(|op| one_by_one.apply(op));
    assert_same_answers(&batched, &one_by_one);
    assert_eq!(ids(&batched, &request("walking")), ["a"]);
    assert!(ids(&batched, &request("shirt running")).is_empty());
}

#[test]
fn a_replay_takes_the_terms_found_and_reaches_the_same_state() {
    // Two copies as the swap keeps them: the second takes each batch's terms from the first.
    let ops = changes_in_one_batch();
    let (mut first, mut second) = (Search::default(), Search::default());
    for batch in [&ops[..2], &ops[2..5], &ops[5..]] {
        let found = first.apply_recorded(batch.to_vec());
        assert!(!found.terms.is_empty());
        second.replay(found);
    }
    assert_same_answers(&first, &second);
    let identity = Identity {
        topic: "search_internal".into(),
        topic_id: "t".into(),
        cluster_id: "c".into(),
    };
    let saved = |search: &Search| snapshot::serialize(&identity, search);
    assert!(saved(&first) == saved(&second), "the copies differ");
    let mut applied = Search::default();
    applied.apply_batch(&ops);
    assert!(
        saved(&first) == saved(&applied),
        "a replay reached another state"
    );
}

/// Products indexed, renamed, moved to another category and disabled within one batch.
fn changes_in_one_batch() -> Vec<Op> {
    let products = [
        product("a", "Red shoe", "shoes", "for running", 5000),
        product("b", "Blue shirt", "shirts", "a shoe print", 2000),
        product("a", "Red boot", "shoes", "for walking", 5000),
        product("c", "Shoe horn", "tools", "", 500),
        pim::Product {
            disabled: true,
            ..product("b", "", "", "", 0)
        },
        product("a", "Red boot", "boots", "for walking", 5000),
        product("b", "Blue shoe", "shoes", "", 2100),
    ];
    (0..).zip(&products).map(|(i, p)| op(i, p)).collect()
}

fn assert_same_answers(one: &Search, other: &Search) {
    for q in [
        "shoe", "red boot", "blue", "walking", "horn", "shirt", "running", "",
    ] {
        assert_eq!(ids(one, &request(q)), ids(other, &request(q)), "{q}");
    }
    assert_eq!(one.postings_bytes(), other.postings_bytes());
}

#[test]
fn a_product_s_distinct_words_keep_the_order_first_met_and_every_field() {
    // 1,000 words, each met in two fields: the table grows twice past its first 256 places.
    let numbers: Vec<u32> = (0..1_000u32)
        .map(|i| i.wrapping_mul(7_919) % 100_003)
        .collect();
    let mut words = DistinctWords::new();
    for field in [1u8, 4] {
        numbers.iter().for_each(|&word| words.add(word, field));
    }
    let expected: Vec<(u32, u8)> = numbers.iter().map(|&word| (word, 5)).collect();
    assert_eq!(words.words, expected);
    // Cleared for the next product (finding terms ahead keeps one table): a table grown this far
    // is made anew; the next product's words alone are found, in their order.
    for _ in 0..2 {
        words.clear();
        [numbers[7], 3, numbers[7], 999_999]
            .iter()
            .for_each(|&word| words.add(word, 2));
        assert_eq!(words.words, [(numbers[7], 2), (3, 2), (999_999, 2)]);
    }
}

#[test]
fn a_batch_whose_terms_are_found_ahead_makes_the_index_small_batches_make() {
    // Small batches find their terms in place; the large one on two threads (`ahead`), in two
    // runs, and its replay takes what it found. New words are met in both halves of a run,
    // products are repriced, renamed, moved and disabled, and one is renamed and then named back
    // within a run (found ahead as held, unchanged: the second change finds its terms in place).
    let lamp = |i: usize, category: &str, price: i64| {
        let description = format!("warm w{}", i % 40);
        product(
            &format!("p{i}"),
            &format!("Lamp {i}"),
            category,
            &description,
            price,
        )
    };
    let base: Vec<pim::Product> = (0..600).map(|i| lamp(i, "lamps", 100)).collect();
    let mut changes: Vec<pim::Product> = (600..2_600)
        .map(|i| {
            let (name, description) = (
                format!("Novel{} lamp", i % 50),
                format!("n{} w{}", i % 70, i % 40),
            );
            product(&format!("p{i}"), &name, "lamps", &description, 7)
        })
        .collect();
    changes.insert(
        10,
        product("p300", "Lamp renamed", "lamps", "warm w20", 100),
    );
    changes.insert(1_500, base[300].clone());
    changes.extend((0..100).map(|i| lamp(i, "lamps", 9_000)));
    changes.extend((100..200).map(|i| {
        product(
            &format!("p{i}"),
            &format!("Shade renamed{}", i % 30),
            "lamps",
            "",
            1,
        )
    }));
    changes.extend((200..250).map(|i| lamp(i, "desks", 100)));
    changes.extend((250..300).map(|i| pim::Product {
        disabled: true,
        ..lamp(i, "", 0)
    }));
    let ops: Vec<Op> = (0..)
        .zip(base.iter().chain(&changes))
        .map(|(i, p)| op(i, p))
        .collect();
    let (base_ops, batch) = ops.split_at(base.len());
    assert!(batch.len() > ahead::RUN && batch.len() < 2 * ahead::RUN);

    let mut in_place = Search::default();
    ops.chunks(100)
        .for_each(|small| in_place.apply_batch(small));
    let (mut first, mut second) = (Search::default(), Search::default());
    for small in base_ops.chunks(100) {
        second.replay(first.apply_recorded(small.to_vec()));
    }
    if Ahead::worth_it(batch) {
        // 2,001 new products (p300's rename among them), 100 renamed, 50 moved; not the 100
        // repriced, the 50 disabled nor p300 named back.
        let mut ahead = Ahead::default();
        ahead.find(batch, &first);
        let found = (0..batch.len()).filter(|_| ahead.next().is_some()).count();
        assert_eq!(found, 2_151);
    }
    second.replay(first.apply_recorded(batch.to_vec()));

    let identity = Identity {
        topic: "search_internal".into(),
        topic_id: "t".into(),
        cluster_id: "c".into(),
    };
    let saved = |search: &Search| snapshot::serialize(&identity, search);
    assert!(
        saved(&first) == saved(&in_place),
        "found ahead, the index differs"
    );
    assert!(saved(&second) == saved(&in_place), "its replay differs");
    assert_eq!(
        ids(&first, &request("novel7")),
        ids(&in_place, &request("novel7"))
    );
    assert!(ids(&first, &request("lamp renamed")).is_empty());
}
