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

fn sample() -> Search {
    let mut search = Search::default();
    let products = [
        product("a", "Red shoe", "shoes", "for running", 5000),
        product("b", "Blue shirt", "shirts", "a shoe print on it", 2000),
        product("c", "Running trainers", "shoes", "light", 9000),
        product("d", "Shoehorn", "tools", "for any shoe", 500),
    ];
    let ops: Vec<Op> = products
        .iter()
        .enumerate()
        .map(|(i, p)| op(i as i64, p))
        .collect();
    search.apply_batch(&ops);
    search
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
    let bytes = snapshot::serialize(&identity, &search);
    let loaded: Search = snapshot::read(&bytes, &identity, 100).expect("loads");
    for q in ["shoe", "sh", "runing", ""] {
        assert_eq!(ids(&loaded, &request(q)), ids(&search, &request(q)));
    }
    assert_eq!(loaded.suggest("s"), search.suggest("s"));
    assert_eq!(loaded.offset(), 9);
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
