//! tantivy against the shop's own search index, on the shop's bench data and queries.
//!
//!     cargo run --release -- CSV QUERIES [--threads N] [--budget-mib M] [--rows R] [--index-only]
//!         [--one-field] [--counts]
//!
//! Indexes the products CSV in a RAM index (N indexing threads, 0 = tantivy's default; no merges
//! while indexing, then one merge into a single segment), prints the indexing time and the memory,
//! then runs the queries three times from this thread in three modes: the page and the count only,
//! plus our facets with a small fast-field collector, plus the same facets as tantivy aggregations.
//! One JSON line per figure on stdout. --one-field indexes the four text fields as one (a query
//! word is then one fuzzy query, not four); --counts prints each query's count and stops.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::{AggContextParams, AggregationCollector};
use tantivy::collector::{Collector, Count, SegmentCollector, TopDocs};
use tantivy::columnar::{Cardinality, ColumnValues, StrColumn};
use tantivy::indexer::NoMergePolicy;
use tantivy::query::{BooleanQuery, FuzzyTermQuery, Occur, Query};
use tantivy::schema::{Field, Schema, Value, FAST, STORED, STRING, TEXT};
use tantivy::{DocId, Index, IndexReader, Score, SegmentOrdinal, SegmentReader, TantivyDocument, Term};

const PAGE: usize = 24;
const FACET_CATEGORIES: usize = 20;
const PRICE_BOUNDS: [i64; 4] = [1000, 2500, 5000, 10000]; // cents: 5 buckets
const ROUNDS: usize = 3;

struct Fields {
    id: Field,
    text: Vec<Field>, // name, category, description, longtext; or one field of the four
    category: Field,  // raw, fast: the facet
    price: Field,
}

fn schema(one_field: bool) -> (Schema, Fields) {
    let mut b = Schema::builder();
    let id = b.add_text_field("id", STORED);
    let names: &[&str] = if one_field { &["all"] } else { &["name", "category_text", "description", "longtext"] };
    let text = names.iter().map(|n| b.add_text_field(n, TEXT)).collect();
    let category = b.add_text_field("category", STRING | FAST);
    let price = b.add_i64_field("price", FAST);
    (b.build(), Fields { id, text, category, price })
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

fn clock(id: libc::clockid_t) -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    unsafe { libc::clock_gettime(id, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}
fn thread_cpu() -> f64 { clock(libc::CLOCK_THREAD_CPUTIME_ID) }
fn process_cpu() -> f64 { clock(libc::CLOCK_PROCESS_CPUTIME_ID) }

/// Indexes the CSV; returns the index and (wall s, process CPU s, CSV parse s, merge s, segments before merge).
fn build(csv: &str, f: &Fields, schema: Schema, threads: usize, budget: usize, rows: usize) -> (Index, serde_json::Value) {
    let index = Index::create_in_ram(schema);
    let (wall, cpu) = (Instant::now(), process_cpu());
    let mut writer = if threads == 0 {
        index.writer::<TantivyDocument>(budget).unwrap()
    } else {
        index.writer_with_num_threads::<TantivyDocument>(threads, budget).unwrap()
    };
    writer.set_merge_policy(Box::new(NoMergePolicy));
    let mut reader = csv::Reader::from_path(csv).unwrap();
    let mut record = csv::StringRecord::new();
    let (mut parse, mut n) = (0.0, 0);
    while n < rows {
        let t = Instant::now();
        if !reader.read_record(&mut record).unwrap() { break; }
        parse += t.elapsed().as_secs_f64();
        let mut doc = TantivyDocument::new();
        doc.add_text(f.id, &record[0]);
        if let [all] = f.text[..] {
            doc.add_text(all, [1, 4, 2, 3].map(|col| &record[col]).join(" "));
        } else {
            for (field, col) in f.text.iter().zip([1, 4, 2, 3]) {
                doc.add_text(*field, &record[col]);
            }
        }
        doc.add_text(f.category, &record[4]);
        doc.add_i64(f.price, record[5].parse().unwrap());
        writer.add_document(doc).unwrap();
        n += 1;
    }
    writer.commit().unwrap();
    let committed = wall.elapsed().as_secs_f64();
    let segments = index.searchable_segment_ids().unwrap();
    if segments.len() > 1 {
        writer.merge(&segments).wait().unwrap();
    }
    writer.wait_merging_threads().unwrap();
    let figures = serde_json::json!({
        "figure": "indexing", "rows": n, "threads": threads, "budget_bytes": budget,
        "wall_s": wall.elapsed().as_secs_f64(), "process_cpu_s": process_cpu() - cpu,
        "wall_to_commit_s": committed, "csv_parse_s": parse, "segments_before_merge": segments.len(),
    });
    (index, figures)
}

/// Query words: runs of letters and digits, lowercased (what tantivy's default tokenizer makes).
fn query(text: &str, f: &Fields) -> Box<dyn Query> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let musts = words.iter().enumerate().map(|(i, word)| {
        let typos = match word.chars().count() { 0..=4 => 0, 5..=8 => 1, _ => 2 };
        let last = i + 1 == words.len(); // no trailing space in the bench queries: still typed
        let shoulds = f.text.iter().map(|field| {
            let term = Term::from_field_text(*field, word);
            let q = if last { FuzzyTermQuery::new_prefix(term, typos, true) } else { FuzzyTermQuery::new(term, typos, true) };
            (Occur::Should, Box::new(q) as Box<dyn Query>)
        });
        (Occur::Must, Box::new(BooleanQuery::new(shoulds.collect())) as Box<dyn Query>)
    });
    Box::new(BooleanQuery::new(musts.collect()))
}

/// Our facets: counts by category (the 20 largest, then by name) and by price bucket, read from
/// the fast fields of each hit.
struct Facets;
struct SegmentFacets { counts: Counts, ord: Arc<dyn ColumnValues<u64>>, price: Arc<dyn ColumnValues<i64>> }
struct Counts { cats: Vec<u32>, prices: [u64; 5], column: StrColumn }
type FacetFruit = (Vec<(String, u64)>, [u64; 5]);

impl Collector for Facets {
    type Fruit = FacetFruit;
    type Child = SegmentFacets;
    fn for_segment(&self, _: SegmentOrdinal, segment: &SegmentReader) -> tantivy::Result<SegmentFacets> {
        let column = segment.fast_fields().str("category")?.expect("category is fast");
        // Every product has one category and one price: the values are the column (no index).
        let ords = column.ords().clone();
        let prices = segment.fast_fields().i64("price")?;
        assert!(ords.get_cardinality() == Cardinality::Full && prices.get_cardinality() == Cardinality::Full);
        let (ord, price) = (ords.values, prices.values);
        Ok(SegmentFacets { counts: Counts { cats: vec![0; column.num_terms()], prices: [0; 5], column }, ord, price })
    }
    fn requires_scoring(&self) -> bool { false }
    fn merge_fruits(&self, fruits: Vec<Counts>) -> tantivy::Result<FacetFruit> {
        let mut prices = [0; 5];
        let mut by_name: HashMap<String, u64> = HashMap::new();
        for counts in &fruits {
            (0..5).for_each(|b| prices[b] += counts.prices[b]);
            // One segment (as here): only the 20 largest need a name; several: all of them.
            let mut found: Vec<(u32, usize)> = counts.cats.iter().enumerate().filter(|(_, c)| **c > 0).map(|(o, c)| (*c, o)).collect();
            let order = |a: &(u32, usize), b: &(u32, usize)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
            if fruits.len() == 1 && found.len() > FACET_CATEGORIES {
                found.select_nth_unstable_by(FACET_CATEGORIES, order);
                found.truncate(FACET_CATEGORIES);
            }
            // Names in one pass over the dictionary (a lookup each decompresses its block anew).
            found.sort_unstable_by_key(|(_, o)| *o);
            let ords: Vec<u64> = found.iter().map(|(_, o)| *o as u64).collect();
            let mut names = vec![];
            counts.column.dictionary().sorted_ords_to_term_cb(&ords, |name| names.push(String::from_utf8_lossy(name).into_owned()))?;
            for (name, (c, _)) in names.into_iter().zip(found) {
                *by_name.entry(name).or_default() += c as u64;
            }
        }
        let mut cats: Vec<(String, u64)> = by_name.into_iter().collect();
        cats.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        cats.truncate(FACET_CATEGORIES);
        Ok((cats, prices))
    }
}

impl SegmentCollector for SegmentFacets {
    type Fruit = Counts;
    fn collect(&mut self, doc: DocId, _: Score) {
        self.counts.cats[self.ord.get_val(doc) as usize] += 1;
        let p = self.price.get_val(doc);
        self.counts.prices[PRICE_BOUNDS.iter().take_while(|b| p >= **b).count()] += 1;
    }
    fn harvest(self) -> Counts { self.counts }
}

fn aggregations() -> Aggregations {
    serde_json::from_value(serde_json::json!({
        "categories": {"terms": {"field": "category", "size": FACET_CATEGORIES}},
        "prices": {"range": {"field": "price", "ranges": [
            {"to": 1000.0}, {"from": 1000.0, "to": 2500.0}, {"from": 2500.0, "to": 5000.0},
            {"from": 5000.0, "to": 10000.0}, {"from": 10000.0}]}},
    })).unwrap()
}

#[derive(Clone, Copy, PartialEq)]
enum Mode { PageAndCount, OurFacets, Aggregations }

/// One search as our answer has it: the page (with the ids of its products), the count, the facets.
fn search(reader: &IndexReader, index: &Index, f: &Fields, text: &str, mode: Mode) -> u64 {
    let searcher = reader.searcher();
    let q = query(text, f);
    let top = TopDocs::with_limit(PAGE).order_by_score();
    let (page, count) = match mode {
        Mode::PageAndCount => searcher.search(&q, &(top, Count)).unwrap(),
        Mode::OurFacets => {
            let (page, count, facets) = searcher.search(&q, &(top, Count, Facets)).unwrap();
            std::hint::black_box(facets);
            (page, count)
        }
        Mode::Aggregations => {
            let aggs = AggregationCollector::from_aggs(aggregations(), AggContextParams::new(Default::default(), index.tokenizers().clone()));
            let (page, count, facets) = searcher.search(&q, &(top, Count, aggs)).unwrap();
            std::hint::black_box(facets);
            (page, count)
        }
    };
    for (_, address) in page {
        let doc: TantivyDocument = searcher.doc(address).unwrap();
        std::hint::black_box(doc.get_first(f.id).and_then(|v| v.as_str()).map(str::len));
    }
    count as u64
}

fn percentile(sorted: &[f64], p: f64) -> f64 { sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)] }

fn run_queries(reader: &IndexReader, index: &Index, f: &Fields, queries: &[String], mode: Mode, name: &str) {
    // Thread CPU seconds of each query in each round; a figure is the least of the rounds' means.
    let mut cpu = vec![vec![0.0; queries.len()]; ROUNDS];
    let (mut walls, mut totals) = (vec![], vec![]);
    for round in cpu.iter_mut() {
        walls.clear();
        totals.clear();
        for (i, text) in queries.iter().enumerate() {
            let (wall, started) = (Instant::now(), thread_cpu());
            totals.push(search(reader, index, f, text, mode));
            round[i] = thread_cpu() - started;
            walls.push(wall.elapsed().as_secs_f64() * 1e3);
        }
    }
    walls.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let least_ms = |keep: &dyn Fn(&String) -> bool| {
        let n = queries.iter().filter(|q| keep(q)).count();
        let mean = |r: &Vec<f64>| queries.iter().zip(r).filter(|(q, _)| keep(q)).map(|(_, c)| *c).sum::<f64>() * 1e3 / n as f64;
        (n, cpu.iter().map(mean).fold(f64::INFINITY, f64::min))
    };
    let by_words: Vec<_> = (1..=3).map(|w| {
        let (n, ms) = least_ms(&|q: &String| q.split_whitespace().count() == w);
        serde_json::json!({"words": w, "queries": n, "cpu_ms": ms})
    }).collect();
    let best = least_ms(&|_: &String| true).1;
    println!("{}", serde_json::json!({
        "figure": "search", "mode": name, "queries": queries.len(), "rounds": ROUNDS,
        "cpu_ms_per_query": best,
        "by_words": by_words,
        "wall_ms_median_last_pass": percentile(&walls, 0.5), "wall_ms_p99_last_pass": percentile(&walls, 0.99),
        "hits_mean": totals.iter().sum::<u64>() as f64 / totals.len() as f64,
        "hits_zero": totals.iter().filter(|t| **t == 0).count(),
    }));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str, default: usize| args.iter().position(|a| a == name).map_or(default, |i| args[i + 1].parse().unwrap());
    let (csv, queries) = (&args[1], &args[2]);
    let queries: Vec<String> = std::fs::read_to_string(queries).unwrap().lines().map(String::from).collect();
    let (schema, f) = schema(args.iter().any(|a| a == "--one-field"));
    let rss_before = rss_bytes();
    let (index, figures) = build(csv, &f, schema, flag("--threads", 1), flag("--budget-mib", 1024) << 20, flag("--rows", usize::MAX));
    println!("{figures}");
    let reader = index.reader().unwrap();
    let searcher = reader.searcher();
    let rss = rss_bytes() - rss_before;
    let files = searcher.space_usage().unwrap().total().get_bytes();
    let payload = 642.0 * 1024.0 * 1024.0;
    println!("{}", serde_json::json!({
        "figure": "memory", "segments": searcher.segment_readers().len(), "docs": searcher.num_docs(),
        "categories": searcher.segment_readers()[0].fast_fields().str("category").unwrap().unwrap().num_terms(),
        "rss_mib": rss as f64 / 1048576.0, "rss_over_642_mib_payload": rss as f64 / payload,
        "index_files_mib": files as f64 / 1048576.0, "files_over_payload": files as f64 / payload,
    }));
    if args.iter().any(|a| a == "--index-only") { return; }
    if args.iter().any(|a| a == "--counts") {
        let counts: Vec<u64> = queries.iter().map(|q| search(&reader, &index, &f, q, Mode::PageAndCount)).collect();
        println!("{}", serde_json::json!({"figure": "counts", "counts": counts}));
        return;
    }
    // A check that both facet ways agree: the first query's answer.
    let q = query(&queries[0], &f);
    let aggs = AggregationCollector::from_aggs(aggregations(), AggContextParams::new(Default::default(), index.tokenizers().clone()));
    let (count, (cats, prices), aggs) = searcher.search(&q, &(Count, Facets, aggs)).unwrap();
    println!("{}", serde_json::json!({"figure": "sample", "query": queries[0], "count": count, "categories": &cats[..3.min(cats.len())], "prices": prices,
        "aggregations": serde_json::to_value(aggs).unwrap()}).to_string().chars().take(1500).collect::<String>());
    run_queries(&reader, &index, &f, &queries, Mode::PageAndCount, "page+count");
    run_queries(&reader, &index, &f, &queries, Mode::OurFacets, "page+count+facets (fast-field collector)");
    run_queries(&reader, &index, &f, &queries, Mode::Aggregations, "page+count+facets (terms+range aggregations)");
}
