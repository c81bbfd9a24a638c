"""Type stubs of the Rust extension (core_rs). Keep in step with core_rs/src/lib.rs and py_*.rs."""

__version__: str

class Catalog:
    """The catalog projection with wait-free reads (two copies swapped atomically)."""

    def __init__(self) -> None: ...
    def apply(self, batch: list[tuple[int, bytes]]) -> list[tuple[int, str]]:
        """Applies (offset, catalog_internal message) pairs in order, publishing them at once with the
        GIL released. Returns (offset, error) for each message that could not be decoded."""
    @property
    def offset(self) -> int:
        """Last applied catalog_internal offset, -1 before the first."""
    @property
    def pim_offset(self) -> int:
        """Last applied pim_pub offset; the bridge resumes after it."""
    def __len__(self) -> int: ...
    def page(self, sort: str, prefix: str, page: int, per_page: int, protobuf: bool = False) -> bytes:
        """A page as JSON, or as protobuf shop.catalog.Page. Raises ValueError on an unknown sort or
        per_page 0; the page is clamped into range."""
    def product(self, id: str, protobuf: bool = False) -> bytes | None:
        """One enabled product as JSON or protobuf shop.catalog.ProductView; None when unknown."""

def pim_publish(message: bytes, offset: int) -> bytes:
    """pim_internal message → pim_pub message carrying `offset`. Raises ValueError on garbage."""

def catalog_bridge(message: bytes, offset: int) -> bytes:
    """pim_pub message → catalog_internal message carrying `offset`. Raises ValueError on garbage."""

def published_offset(message: bytes) -> int:
    """The internal offset a public message was published from. Raises ValueError on garbage."""
