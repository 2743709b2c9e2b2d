"""Search: a person's words and typed filters -> conditions on the grid's one query (services/photos.py
grid_photos), and the full-text index that finds the words.

The index holds one document a photo: its file name, camera make and model, lens, prompt, negative
prompt, tag names and album names. SQLite keeps it in an FTS5 table (photo_search, rowid = the photo's
id); PostgreSQL in a table of tsvectors (photo_search.document) under a GIN index, beside a copy of the
photo's owner and sorted_at under (owner_id, sorted_at, photo_id), the order a page of words walks
(walk_documents), with the 'simple' configuration: no stemming and no stop words, so a prefix such as
"mount*" finds "mountains" as typed, and a prompt in any language is indexed as its words are spelt, as
unicode61 does on SQLite. Both sides split the text at anything that is not a letter or a digit and
ignore accents and case, so one query finds the same photos on either database.

The index is kept in step by refresh_search_documents(), called in the transaction of every write that
changes what a document holds (an insert or keep of a photo, tags and albums added, removed, renamed,
merged or deleted); it writes the copies too, which never change after the photo's insert (a write that
changed a photo's owner or sorted_at would refresh its document). A photo deleted for good takes its
document with it (a foreign key that cascades on PostgreSQL, a trigger on SQLite: a virtual table has
no foreign keys). `flask search rebuild` makes every document anew.

A person's words never reach SQL as text of a query language: the parser keeps only letters and digits
of each word and hands each one to the engine as a quoted string (FTS5) or a quoted lexeme (tsquery),
bound as a parameter; what it cannot make sense of is an InvalidSearch said in words.
"""
from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, time, timedelta
from functools import cached_property

from sqlalchemy import DateTime, Integer, bindparam, column, delete, func, literal_column, select, table, text, true
from sqlalchemy.orm import aliased

from ..errors import GalleryError
from ..extensions import db
from ..models import Album, AlbumPhoto, Photo, PhotoTag, Tag, User, tag_key_of
from . import cache

log = logging.getLogger(__name__)

MAX_QUERY_LENGTH = 500  # characters of the words box
MAX_TERMS = 32  # words and phrases in one query
ID_CHUNK = 10_000  # photo ids in one refresh statement
MAX_FILTER_LENGTH = 200  # characters of a text filter (a camera, a lens, a tag, a model's name)
_SIMPLE = literal_column("'simple'::regconfig")  # no stemming, no stop words (see above)
_WORD = re.compile(r"[^\W_]+")  # letters and digits: what both engines index as one token

# The FTS5 table (SQLite) and the document table (PostgreSQL): one name, two shapes, made by the migration.
_fts = table("photo_search", column("rowid", Integer), column("words"))
_documents = table("photo_search", column("photo_id", Integer), column("document"), column("owner_id", Integer),
                   column("sorted_at", DateTime))


class InvalidSearch(GalleryError):
    """Words or a filter the search cannot read, said in words; nothing was searched."""


# --- the words -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Term:
    tokens: tuple[str, ...]  # one word, or the words of a phrase, letters and digits only
    prefix: bool = False  # the last token is a prefix (word*)
    excluded: bool = False  # -word: photos with it are left out


def parse_words(text_: str) -> list[Term]:
    """The terms of what a person typed: words, "quoted phrases", -excluded words or phrases, prefix*.
    Punctuation inside a word splits it into a phrase (IMG_0042 is "img 0042"), as the index splits it.
    InvalidSearch when too long, or when nothing is left to look for (only excluded words, only signs)."""
    if len(text_) > MAX_QUERY_LENGTH:
        raise InvalidSearch(f"Search for at most {MAX_QUERY_LENGTH} characters; this has {len(text_)}.")
    terms = []
    for match in re.finditer(r'(-?)"([^"]*)"?(\*?)|(\S+)', text_):
        if match.group(4) is not None:
            raw = match.group(4)
            excluded = raw.startswith("-") and len(raw) > 1
            raw = raw[1:] if excluded else raw
            prefix = raw.endswith("*")
        else:
            raw, excluded, prefix = match.group(2), match.group(1) == "-", match.group(3) == "*"
        tokens = tuple(_WORD.findall(raw))
        if tokens:
            terms.append(Term(tokens, prefix, excluded))
    if len(terms) > MAX_TERMS:
        raise InvalidSearch(f"Search for at most {MAX_TERMS} words or phrases; this has {len(terms)}.")
    if not any(not term.excluded for term in terms):
        raise InvalidSearch("Type at least one word to look for: words to leave out (-word) "
                            "need a word to find first.")
    return terms


def fts5_query(terms: list[Term]) -> str:
    """An FTS5 MATCH string: each term a double-quoted string (its tokens are letters and digits only,
    so no quote or operator can be in it), the wanted ones ANDed, the excluded ones NOT-ed."""
    def quoted(term: Term) -> str:
        return '"' + " ".join(term.tokens).replace('"', '""') + '"' + ("*" if term.prefix else "")
    wanted = " AND ".join(quoted(term) for term in terms if not term.excluded)
    unwanted = " OR ".join(quoted(term) for term in terms if term.excluded)
    return f"({wanted}) NOT ({unwanted})" if unwanted else wanted


def tsquery_text(terms: list[Term]) -> str:
    """A to_tsquery string: each token a quoted lexeme, a phrase's tokens followed by <->, a prefix :*."""
    def lexemes(term: Term) -> str:
        parts = ["'" + token.replace("'", "''") + "'" for token in term.tokens]
        if term.prefix:
            parts[-1] += ":*"
        phrase = " <-> ".join(parts)
        return f"!({phrase})" if term.excluded else f"({phrase})"
    return " & ".join(lexemes(term) for term in terms)


def matching_ids(terms: list[Term]):
    """SELECT of the ids of the photos (of any owner: the grid's query narrows to one) whose document
    has the terms. Their query is the parameter search_words (words_parameter), so a statement built
    once for a search's shape runs again for other words (services/photos.py page_statement)."""
    if _dialect() == "postgresql":
        return select(_documents.c.photo_id).where(_has_words(terms))
    return select(_fts.c.rowid).where(text("photo_search MATCH :search_words").bindparams(
        bindparam("search_words", words_parameter(terms))))


def words_parameter(terms) -> str:
    """The engine's query of the terms: a tsquery's text on PostgreSQL, an FTS5 MATCH string on SQLite."""
    return tsquery_text(list(terms)) if _dialect() == "postgresql" else fts5_query(list(terms))


def walks_documents(options) -> bool:
    """Whether a page of the grid's `options` (services/photos.py GridOptions) walks the documents in date
    order (walk_documents): PostgreSQL, words, by date taken, and no favourites, whose index of the
    photos' own in date order narrows the walk more than the words do. A source narrows less: the
    documents' walk reads the words in its index alone (migration d4a7e2c9b815), so a page of
    source=generated&steps_min=30&q=mount* reads 2,362 documents there in 0.72 ms, where the walk of the
    generated photos read 737 photos and looked each one's document up, 1.5 ms (EXPLAIN ANALYZE warm,
    100,000 photos). SQLite's FTS5 table has no such copy: its pages walk the photos' index (_walked_id)."""
    found = options.search
    return (found is not None and bool(found.terms) and options.sort == "taken" and not options.favourites
            and _dialect() == "postgresql")


def walk_documents(owner_id: int, query, filters: SearchFilters) -> tuple:
    """(the documents' copy of sorted_at, of the photo's id, `query`, a SELECT of the owner's photos,
    joined to their documents that have the words and narrowed by `filters`' other conditions): what a
    grid page and a photo's neighbours walk in keyset order when walks_documents() says so.

    The page walks the owner's documents down (owner_id, sorted_at, photo_id) from its cursor, testing
    each one's words in the row it reads, and then reads the photos it keeps: for a word on 4 % of
    100,000 photos 1,311 documents and 61 photos (under 1 ms), where walking the photos' own index read
    each photo's row and looked its document up (2.4 ms, more on a deep page). A date range is put on
    the copy, so the walk starts in it. The planner still reads the words' GIN index instead when they
    are on few photos, as it did before. The copies are the photo's: set at its insert and never changed
    (refresh_search_documents writes them with each document); the trash is left out by the photos' own
    condition in `query`."""
    query = query.join(_documents, _documents.c.photo_id == Photo.id).where(
        _documents.c.owner_id == bindparam("grid_owner", owner_id), _has_words(list(filters.terms)))
    return (*walked_document_columns(), replace(filters, terms=()).narrow(query, sorted_at=_documents.c.sorted_at))


def walked_document_columns() -> tuple:
    """(the documents' copy of sorted_at, of the photo's id): the keyset walk_documents walks."""
    return _documents.c.sorted_at, _documents.c.photo_id


def _has_words(terms: list[Term]):
    """PostgreSQL: the condition that a photo_search row's document has the terms."""
    # gallery_unaccent, IMMUTABLE (migration b7e4d2a91c60 says why): the tsquery is made once when
    # the statement is planned, not again for every row a page's walk down the dates tests.
    query = func.to_tsquery(_SIMPLE, func.gallery_unaccent(bindparam("search_words", words_parameter(terms))))
    return _documents.c.document.bool_op("@@")(query)


# --- the filters ------------------------------------------------------------------------------

TEXT_FILTERS = ("camera", "lens", "model", "scheduler")  # "contains", case-insensitive
RANGES = {"steps": int, "cfg": float, "mp": float}  # steps_min/steps_max, cfg_min/..., mp_min/... (megapixels)


@dataclass(frozen=True)
class SearchFilters:
    """What a search asks for beyond the grid's own options (sort, order, source, favourites, rating):
    ?q=words&taken_from=2024-01-01&taken_to=...&camera=&lens=&gps=1&tag=&album=<id>&model=&seed=
    &scheduler=&prompt_of=<photo id>&steps_min=&steps_max=&cfg_min=&cfg_max=&mp_min=&mp_max=."""

    q: str = ""
    terms: tuple[Term, ...] = field(default=(), compare=False, repr=False)
    taken_from: date | None = None
    taken_to: date | None = None
    camera: str = ""
    lens: str = ""
    gps: bool | None = None
    tag: str = ""
    album: int | None = None
    model: str = ""
    seed: int | None = None
    scheduler: str = ""
    prompt_of: int | None = None  # the photos with the very prompt of this photo of the owner's ("Same prompt")
    steps_min: int | None = None
    steps_max: int | None = None
    cfg_min: float | None = None
    cfg_max: float | None = None
    mp_min: float | None = None
    mp_max: float | None = None

    @classmethod
    def from_args(cls, args) -> SearchFilters:
        """From a query string's mapping; InvalidSearch, in words, for a value it cannot read."""
        values: dict = {"q": _text(args, "q", MAX_QUERY_LENGTH).strip()}
        if values["q"]:
            values["terms"] = tuple(parse_words(values["q"]))
        for name in ("taken_from", "taken_to"):
            values[name] = _date(args, name)
        for name in (*TEXT_FILTERS, "tag"):
            values[name] = _text(args, name, MAX_FILTER_LENGTH).strip()
        gps = args.get("gps") or ""
        if gps not in ("", "0", "1"):
            raise InvalidSearch("gps is 1 (with a place) or 0 (without).")
        values["gps"] = None if gps == "" else gps == "1"
        values["album"] = _number(args, "album", int, "an album's number")
        values["seed"] = _number(args, "seed", int, "a whole number")
        values["prompt_of"] = _number(args, "prompt_of", int, "a photo's number")
        for name, kind in RANGES.items():
            low, high = (_number(args, f"{name}_{end}", kind, "a number") for end in ("min", "max"))
            if low is not None and high is not None and low > high:
                raise InvalidSearch(f"{name}_min ({low}) is more than {name}_max ({high}).")
            values[f"{name}_min"], values[f"{name}_max"] = low, high
        if values["taken_from"] and values["taken_to"] and values["taken_from"] > values["taken_to"]:
            raise InvalidSearch("The “taken from” date is after the “taken to” date.")
        return cls(**values)

    @cached_property  # a search page asks for them seven times; the filters never change (frozen)
    def args(self) -> dict[str, str]:
        """The query arguments that say these filters (the ones set), for url_for: the pager carries them."""
        out = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "terms" or value in (None, ""):
                continue
            out[item.name] = ("1" if value else "0") if isinstance(value, bool) else str(value)
        return out

    @property
    def empty(self) -> bool:
        return not self.args

    @property
    def key(self) -> str:
        """Short and safe in a cache key, whatever was typed."""
        return hashlib.sha256(repr(sorted(self.args.items())).encode()).hexdigest()[:24]

    def parameters(self) -> dict:
        """The values these filters put in a statement, by the name of its parameter (each one set, and
        only those): what narrow() binds, and what a statement built for the same shape of search runs
        with (services/photos.py page_statement). Text filters as LIKE patterns' insides, escaped."""
        values: dict = {}
        if self.terms:
            values["search_words"] = words_parameter(self.terms)
        if self.taken_from:
            values["search_taken_from"] = datetime.combine(self.taken_from, time())
        if self.taken_to:
            values["search_taken_to"] = datetime.combine(self.taken_to + timedelta(days=1), time())
        for name in TEXT_FILTERS:
            if getattr(self, name):
                values[f"search_{name}"] = _like_escaped(getattr(self, name))
        if self.tag:
            values["search_tag"] = tag_key_of(self.tag)
        for name in ("album", "seed", "prompt_of"):
            if getattr(self, name) is not None:
                values[f"search_{name}"] = getattr(self, name)
        for name in RANGES:
            for end in ("min", "max"):
                value = getattr(self, f"{name}_{end}")
                if value is not None:
                    values[f"search_{name}_{end}"] = _pixels(value) if name == "mp" else value
        return values

    @property
    def shape(self) -> tuple:
        """What, besides which parameters are set, makes the statement of these filters: the GPS condition."""
        return (self.gps,)

    def narrow(self, query, sorted_at=Photo.sorted_at):
        """`query` (a SELECT of Photo) with these filters' conditions, every value a named parameter, the
        dates' on `sorted_at` (the column a page walks: the documents' copy of it, walk_documents)."""
        values = self.parameters()

        def bound(name: str):
            return bindparam(name, values[name])

        conditions = []
        if "search_words" in values:
            conditions.append(_walked_id().in_(matching_ids(list(self.terms))))
        if "search_taken_from" in values:
            conditions.append(sorted_at >= bound("search_taken_from"))
        if "search_taken_to" in values:
            conditions.append(sorted_at < bound("search_taken_to"))
        if "search_camera" in values:
            conditions.append(_contains(Photo.camera_make, bound("search_camera"))
                              | _contains(Photo.camera_model, bound("search_camera")))
        for name, column_ in (("lens", Photo.lens), ("model", Photo.model_name), ("scheduler", Photo.scheduler)):
            if f"search_{name}" in values:
                conditions.append(_contains(column_, bound(f"search_{name}")))
        if self.gps is not None:
            conditions.append(Photo.gps_latitude.is_not(None) if self.gps else Photo.gps_latitude.is_(None))
        if "search_tag" in values:
            # Another owner's tag of that name links only that owner's photos, which the grid's query leaves out.
            conditions.append(Photo.id.in_(select(PhotoTag.photo_id).join(Tag, Tag.id == PhotoTag.tag_id)
                                           .where(Tag.name_key == bound("search_tag"))))
        if "search_album" in values:
            conditions.append(Photo.id.in_(select(AlbumPhoto.photo_id)
                                           .where(AlbumPhoto.album_id == bound("search_album"))))
        if "search_seed" in values:
            conditions.append(Photo.seed == bound("search_seed"))
        if "search_prompt_of" in values:
            # A link by the photo's id, not its prompt: prompts run to thousands of characters, past what
            # a URL carries. Only the owner's photo names a prompt (the subquery correlates on the owner).
            other = aliased(Photo)
            conditions.append(Photo.prompt == select(other.prompt).where(
                other.id == bound("search_prompt_of"), other.owner_id == Photo.owner_id).scalar_subquery())
        for name, expression in (("steps", Photo.steps), ("cfg", Photo.cfg_scale), ("mp", Photo.width * Photo.height)):
            if f"search_{name}_min" in values:
                conditions.append(expression >= bound(f"search_{name}_min"))
            if f"search_{name}_max" in values:
                conditions.append(expression <= bound(f"search_{name}_max"))
        return query.where(*conditions) if conditions else query.where(true())


LIKE_ESCAPE = "/"


def _like_escaped(value: str) -> str:
    """`value` with LIKE's wildcards and the escape character escaped, as SQLAlchemy's autoescape does."""
    return value.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")


def _contains(column_, pattern):
    """Case-insensitive "contains" of a parameter already escaped by _like_escaped."""
    return column_.icontains(pattern, escape=LIKE_ESCAPE)


def _walked_id():
    """Photo.id as the words' condition tests it: on SQLite as `photos.id + 0`, which no index serves, so
    that a page of words walks the grid's own index (owner, date, id) from the cursor, testing each id
    against the matches, and stops at a page; PostgreSQL chooses well by its statistics, and gets the column.

    SQLite cannot tell a word of 4,000 matches from one of 4: once ANALYZE has run it reads every match by
    its id and sorts them all for each page (5 to 15 ms a page and twice the CPU for a word on 4 % of
    100,000 photos, and more the more photos a word has, with no bound), where the walk's worst, a word
    on one photo, is one pass over the library's index (about 13 ms at 100,000): tests/benchmarks/bench_search.py.
    """
    return Photo.id + 0 if _dialect() == "sqlite" else Photo.id


def _pixels(megapixels: float | None) -> float | None:
    return None if megapixels is None else megapixels * 1_000_000


def _text(args, name: str, limit: int) -> str:
    value = args.get(name) or ""
    if len(value) > limit:
        raise InvalidSearch(f"{name} is at most {limit} characters; this has {len(value)}.")
    if any(unicodedata.category(char) == "Cc" and char not in "\t\n\r" for char in value):
        raise InvalidSearch(f"{name} cannot hold control characters.")
    return value


def _date(args, name: str) -> date | None:
    value = (args.get(name) or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidSearch(f"{name} is a date like 2024-06-30, not {value[:40]!r}.") from None


def _number(args, name: str, kind, what: str):
    value = (args.get(name) or "").strip()
    if not value:
        return None
    try:
        number = kind(value)
    except ValueError:
        raise InvalidSearch(f"{name} is {what}, not {value[:40]!r}.") from None
    if kind is float and not (-1e12 < number < 1e12):  # nan, inf and the absurd
        raise InvalidSearch(f"{name} is {what}, not {value[:40]!r}.")
    if kind is int and not -(2 ** 63) <= number < 2 ** 63:
        raise InvalidSearch(f"{name} is {what} of at most 19 digits.")
    return number


def album_choices(owner: User) -> list:
    """The owner's albums for the search form's Album select (albums.album_choices), cached with the
    library: every album write retires it (cache.clear_library), and a search page asked again (the
    pager, Back, a photo's page and back) then runs no statement but the sign-in's. Imported here:
    services/albums imports this module."""
    from . import albums
    return cache.read_through(cache.library_key("album-choices", owner), lambda: albums.album_choices(owner.id))


# --- the index -----------------------------------------------------------------------------------

def photos_to_download(owner_id: int, options) -> list:
    """Every photo a search shows (`options`, the grid's options with their SearchFilters), in its order:
    rows of original_path, original_name, taken_at and what a label needs, all a zip needs (one query).
    Imported here: services/photos and services/labels import this module."""
    from . import labels, photos
    column = photos.SORTS[options.sort]
    newest_first = options.order == "newest"
    query = (photos.grid_photos(owner_id, options)
             .with_only_columns(Photo.original_path, Photo.original_name, Photo.taken_at)
             .order_by(*(c.desc() if newest_first else c.asc() for c in (column, Photo.id))))
    return list(db.session.execute(labels.with_label_columns(query)))


def refresh_search_documents(photo_ids) -> None:
    """Make the documents of the photos `photo_ids` (a list of ids or a SELECT of them) anew from their
    rows, tags and albums, in the caller's transaction: one INSERT ... SELECT, an upsert on either
    database (one per ID_CHUNK ids of a list: SQLite takes at most 32,766 parameters a statement). A
    photo no longer there is left to the cascade (PostgreSQL) or the trigger (SQLite)."""
    if not isinstance(photo_ids, (list, tuple, set)):
        _write_documents(Photo.id.in_(photo_ids))
        return
    photo_ids = sorted(set(photo_ids))
    for start in range(0, len(photo_ids), ID_CHUNK):
        _write_documents(Photo.id.in_(photo_ids[start:start + ID_CHUNK]))


def rebuild_search_index() -> int:
    """Every photo's document made anew (the index emptied first, so none of a vanished photo stays);
    the caller commits. How many documents."""
    db.session.execute(delete(_fts if _dialect() == "sqlite" else _documents))
    _write_documents()
    count = db.session.scalar(select(func.count()).select_from(_fts if _dialect() == "sqlite" else _documents))
    log.info("rebuilt the search index: %d documents", count)
    return count


def _document():
    """The text of a photo's document, as one SQL expression over the photos row."""
    aggregate = (lambda name: func.string_agg(name, " ")) if _dialect() == "postgresql" else \
        (lambda name: func.group_concat(name, " "))
    tags = select(aggregate(Tag.name)).join(PhotoTag, PhotoTag.tag_id == Tag.id).where(
        PhotoTag.photo_id == Photo.id).scalar_subquery()
    albums = select(aggregate(Album.name)).join(AlbumPhoto, AlbumPhoto.album_id == Album.id).where(
        AlbumPhoto.photo_id == Photo.id).scalar_subquery()
    parts = [Photo.original_name, Photo.camera_make, Photo.camera_model, Photo.lens, Photo.prompt,
             Photo.negative_prompt, tags, albums]
    words = func.coalesce(parts[0], "")
    for part in parts[1:]:
        words = words + " " + func.coalesce(part, "")
    if _dialect() == "postgresql":
        plain = func.regexp_replace(func.unaccent(words), "[^[:alnum:]]+", " ", "g")
        return func.to_tsvector(_SIMPLE, plain)
    return words


def _write_documents(*conditions) -> None:
    """The documents of the photos that meet `conditions` (all of them for none) made from their rows: one
    INSERT ... SELECT, an upsert. On PostgreSQL with the photo's owner and sorted_at beside its document
    (walk_documents), written again with each document though they never change."""
    if _dialect() == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
        rows = select(Photo.id, _document(), Photo.owner_id, Photo.sorted_at).where(*conditions)
        statement = insert(_documents).from_select(["photo_id", "document", "owner_id", "sorted_at"], rows)
        db.session.execute(statement.on_conflict_do_update(index_elements=["photo_id"], set_={
            name: statement.excluded[name] for name in ("document", "owner_id", "sorted_at")}))
        return
    rows = select(Photo.id, _document()).where(*conditions)
    db.session.execute(_fts.insert().from_select(["rowid", "words"], rows).prefix_with("OR REPLACE"))


def _dialect() -> str:
    return db.session.get_bind().dialect.name
