//! The content projection: the cms entries (pages, the hero, teasers) the storefront shows, each
//! with its HTML rendered and sanitized once, when its event is decoded, and its JSON built then
//! too, all but the featured products, which are the catalog's at the time of a read.

pub mod render;

use crate::catalog::{encode, Catalog};
use crate::codec::cms::{internal_message::Event, EntryChanged, InternalMessage};
use crate::codec::DecodeError;
use crate::json::{json_int, json_string};
use crate::projection::Model;
use crate::snapshot::{self, Persist, Reader, Snapshot, SnapshotError, Writer};
use crate::swap::{replay_by_reapplying, Apply};
use prost::Message;
use std::sync::Arc;
type HashMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;

/// The kinds of entry, as files and the API name them.
pub const KINDS: [&str; 3] = ["page", "hero", "teaser"];
/// The longest slug: a slug is a path segment of the storefront (`/pages/{slug}`).
pub const MAX_SLUG: usize = 100;

/// A slug: lowercase ASCII letters, digits and inner hyphens, at most MAX_SLUG of them.
pub fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= MAX_SLUG
        && !slug.starts_with('-')
        && !slug.ends_with('-')
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// One version of an entry, ready to be shown.
#[derive(Debug, PartialEq, Eq)]
pub struct Rendered {
    pub slug: String,
    pub kind: String,
    /// Published and not removed; shown once `publish_at` has passed.
    pub live: bool,
    pub publish_at: i64,
    pub position: i64,
    pub products: Vec<String>,
    /// The JSON object up to, not including, its version and products: `{"slug":...,"html":"..."`.
    pub head: String,
}

impl Rendered {
    fn of(changed: &EntryChanged) -> Result<Rendered, DecodeError> {
        let entry = changed
            .entry
            .as_ref()
            .ok_or_else(|| DecodeError("EntryChanged has no entry".into()))?;
        if !valid_slug(&entry.slug) {
            return Err(DecodeError(format!("invalid slug {:?}", entry.slug)));
        }
        if !KINDS.contains(&entry.kind.as_str()) {
            return Err(DecodeError(format!("unknown kind {:?}", entry.kind)));
        }
        let html = render::html(&entry.body);
        let mut head = Vec::with_capacity(html.len() + entry.title.len() + 160);
        head.extend_from_slice(b"{\"slug\":");
        json_string(&mut head, entry.slug.as_bytes());
        head.extend_from_slice(b",\"kind\":");
        json_string(&mut head, entry.kind.as_bytes());
        head.extend_from_slice(b",\"title\":");
        json_string(&mut head, entry.title.as_bytes());
        head.extend_from_slice(b",\"position\":");
        json_int(&mut head, entry.position);
        head.extend_from_slice(b",\"publish_at\":");
        json_int(&mut head, entry.publish_at);
        head.extend_from_slice(b",\"updated_at\":");
        json_int(&mut head, changed.changed_at);
        head.extend_from_slice(b",\"html\":");
        json_string(&mut head, html.as_bytes());
        Ok(Rendered {
            slug: entry.slug.clone(),
            kind: entry.kind.clone(),
            live: entry.published && !entry.removed,
            publish_at: entry.publish_at,
            position: entry.position,
            products: entry.products.clone(),
            head: String::from_utf8(head).expect("JSON of UTF-8 strings"),
        })
    }

    /// Shown at `now` (milliseconds since the epoch).
    pub fn visible(&self, now: i64) -> bool {
        self.live && self.publish_at <= now
    }
}

/// An entry's latest version and its number (1 for the first event of its slug).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub rendered: Arc<Rendered>,
    pub version: i64,
}

#[derive(Debug, Clone)]
pub enum Effect {
    Changed(Arc<Rendered>),
    Poison,
}

#[derive(Debug, Clone)]
pub struct Op {
    pub offset: i64,
    pub effect: Effect,
}

/// A cms_internal message as an op, its entry rendered (once: both copies share it).
pub fn decode(offset: i64, bytes: &[u8]) -> Result<Op, DecodeError> {
    let Some(Event::EntryChanged(changed)) = InternalMessage::decode(bytes)?.event else {
        return Err(DecodeError("cms_internal message has no event".into()));
    };
    let rendered = Arc::new(Rendered::of(&changed)?);
    Ok(Op {
        offset,
        effect: Effect::Changed(rendered),
    })
}

#[derive(Clone)]
pub struct Content {
    entries: HashMap<String, Entry>,
    offset: i64,
}

impl Default for Content {
    fn default() -> Self {
        Content {
            entries: HashMap::default(),
            offset: -1,
        }
    }
}

impl Apply for Content {
    type Op = Op;
    replay_by_reapplying!(Op);

    fn apply(&mut self, op: &Op) {
        self.offset = op.offset;
        if let Effect::Changed(rendered) = &op.effect {
            let version = self.entries.get(&rendered.slug).map_or(0, |e| e.version) + 1;
            let entry = Entry {
                rendered: Arc::clone(rendered),
                version,
            };
            self.entries.insert(rendered.slug.clone(), entry);
        }
    }
}

impl Content {
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The entry `slug` if it is shown at `now`.
    pub fn visible(&self, slug: &str, now: i64) -> Option<&Entry> {
        self.entries
            .get(slug)
            .filter(|entry| entry.rendered.visible(now))
    }

    /// The entries shown at `now`, of `kind` (any if None), by position, then slug.
    pub fn list(&self, kind: Option<&str>, now: i64) -> Vec<&Entry> {
        let mut found: Vec<&Entry> = self
            .entries
            .values()
            .filter(|e| e.rendered.visible(now))
            .filter(|e| kind.is_none() || kind == Some(e.rendered.kind.as_str()))
            .collect();
        found.sort_unstable_by(|a, b| {
            (a.rendered.position, &a.rendered.slug).cmp(&(b.rendered.position, &b.rendered.slug))
        });
        found
    }
}

/// The JSON of an entry, its featured products those `catalog` sells now (a disabled or unknown
/// product is left out).
pub fn entry_json(out: &mut Vec<u8>, entry: &Entry, catalog: &Catalog) {
    out.extend_from_slice(entry.rendered.head.as_bytes());
    out.extend_from_slice(b",\"version\":");
    json_int(out, entry.version);
    out.extend_from_slice(b",\"products\":[");
    let mut first = true;
    for product in entry
        .rendered
        .products
        .iter()
        .filter_map(|id| catalog.get(id))
    {
        if !first {
            out.push(b',');
        }
        first = false;
        encode::product_json(out, product.view());
    }
    out.extend_from_slice(b"]}");
}

/// The JSON of a list: `{"items":[entry, ...]}`.
pub fn list_json(entries: &[&Entry], catalog: &Catalog) -> Vec<u8> {
    let size: usize = entries.iter().map(|e| e.rendered.head.len() + 64).sum();
    let mut out = Vec::with_capacity(size + 16);
    out.extend_from_slice(b"{\"items\":[");
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        entry_json(&mut out, entry, catalog);
    }
    out.extend_from_slice(b"]}");
    out
}

/// A strong entity tag of a body: 64 bits of a fixed-key hash, the same in every process of a
/// build, so that replicas answer the same tag for the same body.
pub fn etag(body: &[u8]) -> String {
    let state = ahash::RandomState::with_seeds(0x5eed, 0xc0de, 0xcafe, 0xf00d);
    format!("\"{:016x}\"", state.hash_one(body))
}

impl Model for Content {
    const SNAPSHOT_IN_MEMORY: bool = true;

    fn decode(offset: i64, bytes: &[u8]) -> Result<Op, DecodeError> {
        decode(offset, bytes)
    }

    fn poison(offset: i64) -> Op {
        Op {
            offset,
            effect: Effect::Poison,
        }
    }

    fn sizes(&self) -> Vec<(&'static str, usize)> {
        let live = self.entries.values().filter(|e| e.rendered.live).count();
        vec![("entries", self.entries.len()), ("live_entries", live)]
    }
}

impl Persist for Entry {
    const MIN_BYTES: usize = 8 + 4 + 4 + 1 + 8 + 8 + 4 + 4;
    fn save(&self, out: &mut Writer<'_>) {
        let r = &self.rendered;
        self.version.save(out);
        r.slug.save(out);
        r.kind.save(out);
        r.live.save(out);
        r.publish_at.save(out);
        r.position.save(out);
        r.products.save(out);
        r.head.save(out);
    }
    fn restore(input: &mut Reader<'_>) -> snapshot::Result<Self> {
        let version = Persist::restore(input)?;
        let rendered = Rendered {
            slug: Persist::restore(input)?,
            kind: Persist::restore(input)?,
            live: Persist::restore(input)?,
            publish_at: Persist::restore(input)?,
            position: Persist::restore(input)?,
            products: Persist::restore(input)?,
            head: Persist::restore(input)?,
        };
        if !valid_slug(&rendered.slug) || !KINDS.contains(&rendered.kind.as_str()) {
            return Err(SnapshotError(
                "an entry with an invalid slug or kind".into(),
            ));
        }
        Ok(Entry {
            rendered: Arc::new(rendered),
            version,
        })
    }
}

impl Snapshot for Content {
    const KIND: &'static str = "content";

    fn offset(&self) -> i64 {
        self.offset
    }

    fn save(&self, out: &mut Writer<'_>) {
        self.offset.save(out);
        self.entries.save(out);
    }

    fn restore(input: &mut Reader<'_>) -> snapshot::Result<Self> {
        Ok(Content {
            offset: Persist::restore(input)?,
            entries: Persist::restore(input)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::cms;
    use crate::snapshot::Identity;

    fn changed(slug: &str, kind: &str, body: &str, publish_at: i64) -> Vec<u8> {
        let entry = cms::Entry {
            slug: slug.into(),
            title: format!("Title of {slug}"),
            kind: kind.into(),
            published: true,
            publish_at,
            body: body.into(),
            ..Default::default()
        };
        let changed = EntryChanged {
            entry: Some(entry),
            changed_at: 5,
            reverted_to: 0,
        };
        InternalMessage {
            event: Some(Event::EntryChanged(changed)),
        }
        .encode_to_vec()
    }

    fn applied(messages: &[Vec<u8>]) -> Content {
        let mut content = Content::default();
        for (offset, bytes) in messages.iter().enumerate() {
            let op =
                decode(offset as i64, bytes).unwrap_or_else(|_| Content::poison(offset as i64));
            content.apply(&op);
        }
        content
    }

    #[test]
    fn versions_count_per_slug_and_the_latest_shows() {
        let content = applied(&[
            changed("shipping", "page", "one", 0),
            changed("imprint", "page", "x", 0),
            changed("shipping", "page", "*two*", 0),
        ]);
        let entry = content.visible("shipping", 10).unwrap();
        assert_eq!(entry.version, 2);
        assert!(entry
            .rendered
            .head
            .ends_with("\"html\":\"<p><em>two</em></p>\\n\""));
        assert_eq!(content.offset(), 2);
    }

    #[test]
    fn a_scheduled_entry_shows_from_its_time_on() {
        let content = applied(&[changed("later", "teaser", "soon", 1_000)]);
        assert!(content.visible("later", 999).is_none());
        assert!(content.list(Some("teaser"), 999).is_empty());
        assert!(content.visible("later", 1_000).is_some());
    }

    #[test]
    fn bad_slugs_and_kinds_are_poison() {
        assert!(decode(0, &changed("Bad Slug", "page", "", 0)).is_err());
        assert!(decode(0, &changed("ok", "banner", "", 0)).is_err());
        assert!(decode(0, b"\xff").is_err());
        let content = applied(&[changed("../x", "page", "", 0), changed("ok", "page", "", 0)]);
        assert_eq!(content.offset(), 1);
        assert_eq!(content.list(None, 0).len(), 1);
    }

    #[test]
    fn lists_are_ordered_by_position_then_slug_and_filtered_by_kind() {
        let mut messages = vec![
            changed("b", "teaser", "", 0),
            changed("a", "teaser", "", 0),
            changed("hero", "hero", "", 0),
        ];
        let mut late = cms::InternalMessage::decode(messages[0].as_slice()).unwrap();
        if let Some(Event::EntryChanged(c)) = &mut late.event {
            c.entry.as_mut().unwrap().position = -1;
        }
        messages.push(late.encode_to_vec());
        let content = applied(&messages);
        let slugs: Vec<_> = content
            .list(Some("teaser"), 0)
            .iter()
            .map(|e| e.rendered.slug.as_str())
            .collect();
        assert_eq!(slugs, ["b", "a"]);
        assert_eq!(content.list(None, 0).len(), 3);
    }

    #[test]
    fn a_snapshot_restores_the_same_entries() {
        let content = applied(&[
            changed("shipping", "page", "# Ship", 0),
            changed("soon", "teaser", "x", 99),
        ]);
        let identity = Identity {
            topic: "cms_internal".into(),
            topic_id: "t".into(),
            cluster_id: "c".into(),
        };
        let bytes = snapshot::serialize(&identity, &content);
        let restored: Content = snapshot::read(&bytes, &identity, 10).unwrap();
        assert_eq!(restored.offset(), 1);
        assert_eq!(restored.entries, content.entries);
    }

    #[test]
    fn etags_differ_with_the_body() {
        assert_eq!(etag(b"a"), etag(b"a"));
        assert_ne!(etag(b"a"), etag(b"b"));
        assert_eq!(etag(b"a").len(), 18);
    }
}
