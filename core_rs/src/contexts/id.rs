//! A product id as checkout and fulfilment hold it: one reference-counted allocation that both
//! copies of a model (and checkout's maps) share, behind a thin pointer, so that a hash map slot
//! keyed by it is 8 bytes smaller than one keyed by an `Arc<str>`. Maps keyed by it are looked up
//! by `&str`: it hashes and compares as its text.

use crate::order_index::prefetch_lines;
use crate::snapshot::{self, Persist, Reader, Writer};
use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use triomphe::ThinArc;

#[derive(Clone)]
pub struct Id(ThinArc<(), u8>);

impl Id {
    pub fn new(id: &str) -> Id {
        Id(ThinArc::from_header_and_slice((), id.as_bytes()))
    }

    pub fn as_str(&self) -> &str {
        // SAFETY: built from a `str` and never changed.
        unsafe { std::str::from_utf8_unchecked(&self.0.slice) }
    }

    /// Whether both are the same allocation.
    pub fn same(&self, other: &Id) -> bool {
        self.0.ptr() == other.0.ptr()
    }
}

impl From<&str> for Id {
    fn from(id: &str) -> Id {
        Id::new(id)
    }
}

impl From<String> for Id {
    fn from(id: String) -> Id {
        Id::new(&id)
    }
}

impl Deref for Id {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Id {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

/// As `str` hashes, which `Borrow<str>` requires.
impl Hash for Id {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq for Id {
    fn eq(&self, other: &Id) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Id {}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_str().fmt(f)
    }
}

/// Saved as a string: the snapshot format of an id held as a `String` before.
impl Persist for Id {
    const MIN_BYTES: usize = 4;
    fn save(&self, out: &mut Writer<'_>) {
        out.str(self);
    }
    fn restore(input: &mut Reader<'_>) -> snapshot::Result<Self> {
        Ok(Id::new(input.str()?))
    }
    fn prefetch(&self) {
        prefetch_lines(self.as_ptr(), self.len());
    }
}

#[cfg(test)]
mod tests {
    use super::Id;
    use std::collections::HashMap;

    #[test]
    fn a_map_keyed_by_ids_is_looked_up_by_their_text() {
        let map: HashMap<Id, i64> = [(Id::new("p1"), 1), (Id::new("ü2"), 2)]
            .into_iter()
            .collect();
        assert_eq!(
            (map.get("p1"), map.get("ü2"), map.get("p3")),
            (Some(&1), Some(&2), None)
        );
        let id = Id::new("p1");
        assert!(id.same(&id.clone()) && !id.same(&Id::new("p1")) && id == Id::new("p1"));
    }
}
