"""Semantic search with metadata filters, account resolution and exact per-account retrieval."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.knowledge.accounts import Account, AccountResolver, Resolution, fold
from bot.knowledge.embeddings import NamedEmbeddings
from bot.knowledge.lexical import LexicalIndex, tokens
from bot.knowledge.store import KnowledgeStore


@dataclass(frozen=True)
class Hit:
    id: str
    text: str
    metadata: dict[str, Any]
    score: float  # cosine similarity, 1.0 is identical

    @property
    def ref(self) -> str:
        return str(self.metadata.get("ref") or self.metadata.get("source") or self.id)

    @property
    def record(self) -> dict[str, Any]:
        """The CRM record behind a chunk ({} for content)."""
        data = self.metadata.get("data")
        return json.loads(data) if data else {}

    def source_info(self) -> dict[str, Any]:
        meta = self.metadata
        return {
            "id": self.ref,
            "title": meta.get("title", ""),
            "type": meta.get("type", ""),
            "account": meta.get("account_name") or None,
            "path": meta.get("source", ""),
            **({"url": meta["url"]} if meta.get("url") else {}),
        }


class Retriever:
    def __init__(self, store: KnowledgeStore, embeddings: NamedEmbeddings):
        self.store = store
        self.embeddings = embeddings
        self._resolver: AccountResolver | None = None
        self._content: Slice | None = None
        self._lexical: LexicalIndex | None = None
        self._lock = threading.Lock()
        self._newest: tuple[float, date | None] | None = None
        self._generation: tuple[float, str] | None = None
        self._own_write = False  # set by an ingest in this process: its client is current, no reopen needed

    # -- accounts

    def _current(self) -> None:
        """Drop what is cached when the store changed (an ingest here or in another process): the
        manifest's fingerprint is read at most every GENERATION_CHECK seconds."""
        now = time.monotonic()
        seen = self._generation
        if seen is not None and now - seen[0] < GENERATION_CHECK:
            return
        generation = self.store.generation()
        if seen is not None and seen[1] != generation:
            if not self._own_write:
                self.store.reopen()  # another process wrote: our view of the vector index is stale
            self._own_write = False
            self.refresh()
        self._generation = (now, generation)

    @property
    def resolver(self) -> AccountResolver:
        self._current()
        if self._resolver is None:
            with self._lock:
                if self._resolver is None:
                    accounts = []
                    for _, _, meta in self.store.get({"type": "account"}):
                        data = json.loads(meta["data"])
                        accounts.append(Account(id=str(meta["record_id"]), name=str(data.get("name", "")),
                                                industry=str(data.get("industry", "")),
                                                country=str(data.get("country", ""))))
                    self._resolver = AccountResolver(accounts)
        return self._resolver

    def warm(self) -> None:
        """Build what the first question would otherwise wait for (a process starting on a large store)."""
        started = time.monotonic()
        try:
            self.embeddings.embed_query("warm up")
            self.resolver, self.content_slice(), self.lexical()
        except Exception:  # a store not ingested yet, a server not up: the first question will say so
            logger.warning("warm-up skipped", exc_info=True)
            return
        logger.info("retrieval warmed up in %.1f s", time.monotonic() - started)

    def refresh(self) -> None:
        """Forget cached accounts and content (after an ingest)."""
        self._resolver = None
        self._content = None
        self._lexical = None
        self._newest = None

    def newest_record_date(self) -> date | None:
        """The newest date on an activity or lead that is not in the future: an export's "now".

        Kept for CONTENT_TTL seconds like the content library, so an ingest by another process is seen.
        """
        now = time.monotonic()
        if self._newest is None or now - self._newest[0] > CONTENT_TTL:
            today = date.today().isoformat()
            # in pages: one get of every activity's metadata fails past about 32,000 rows (SQLite's variable limit)
            records = self.store.scan({"$and": [{"kind": "crm"}, {"type": {"$in": ["activity", "lead"]}}]},
                                      include=["metadatas"], page=10_000)
            past = [d for _, _, meta in records if len(d := str((meta or {}).get("date") or "")) == 10 and d <= today]
            self._newest = (now, date.fromisoformat(max(past)) if past else None)
        return self._newest[1]

    def resolve_account(self, name: str) -> Resolution:
        return self.resolver.resolve(name)

    def account_records(self, account_id: str, record_type: str | None = None) -> list[Hit]:
        """Every CRM record of one account, not the top k: a brief must see all of them."""
        where: dict[str, Any] = {"account_id": account_id}
        if record_type:
            where = {"$and": [where, {"type": record_type}]}
        hits = [Hit(i, text, meta, 1.0) for i, text, meta in self.store.get(where)]
        return sorted(hits, key=lambda h: (str(h.metadata.get("type")), str(h.metadata.get("date")),
                                           str(h.metadata.get("record_id") or ""), h.id))

    def account_records_by_type(self, account_id: str) -> dict[str, list[Hit]]:
        """All of an account's records grouped by type: 'account', 'contact', 'opportunity', ..."""
        grouped: dict[str, list[Hit]] = {}
        for hit in self.account_records(account_id):
            grouped.setdefault(str(hit.metadata.get("type")), []).append(hit)
        return grouped

    # -- search

    def search(
        self,
        query: str,
        *,
        k: int = 5,
        kind: str | None = None,
        types: list[str] | None = None,
        account_id: str | None = None,
    ) -> list[Hit]:
        vector = self.embeddings.embed_query(query)
        return self.search_vector(vector, k=k, kind=kind, types=types, account_id=account_id)

    def search_vector(
        self,
        vector: list[float],
        *,
        k: int,
        kind: str | None = None,
        types: list[str] | None = None,
        account_id: str | None = None,
    ) -> list[Hit]:
        """Nearest chunks under metadata filters.

        Chroma's HNSW search with a selective filter (one account, the content library inside a
        CRM-heavy store) costs a scan of the metadata; those few chunks are ranked exactly in
        memory instead. Everything else goes to the index.
        """
        if account_id:
            own = self.account_slice(account_id)
            if own is not None:
                return own.ranked(vector, k, kind=kind, types=types)
        elif kind == "content" or (types and not set(types) & CRM_TYPES):
            return self.content_slice().ranked(vector, k, types=types)
        clauses: list[dict[str, Any]] = []
        if kind:
            clauses.append({"kind": kind})
        if types:
            clauses.append({"type": {"$in": types}})
        if account_id:
            clauses.append({"account_id": account_id})
        where = clauses[0] if len(clauses) == 1 else ({"$and": clauses} if clauses else None)
        rows = self.store.query(vector, k=k, where=where)
        return [Hit(i, text, meta, 1.0 - float(distance)) for i, text, meta, distance in rows]

    def written_here(self) -> None:
        """An ingest in this process changed the store: drop caches, keep the (current) client."""
        self._own_write = True
        self.refresh()

    def retrieve(self, question: str, *, k: int = 5, account: Account | None = None,
                 config: "RetrievalConfig | None" = None) -> list[Hit]:
        return self.gather(question, account=account, config=config).hits[:k]

    def gather(self, question: str, *, account: Account | None = None,
               config: "RetrievalConfig | None" = None, depth: int = 10) -> "Gathered":
        """See `_gather`; an embedded store changed under us by another process is reopened and asked again."""
        client = self.store.client
        try:
            return self._gather(question, account=account, config=config, depth=depth)
        except Exception as exc:
            if self.store.client is not client:
                pass  # another thread reopened the store while this question was in flight: ask the new one
            elif "Error finding id" not in str(exc) or not self.store.reopen():
                raise
            self.refresh()
            return self._gather(question, account=account, config=config, depth=depth)

    def _gather(self, question: str, *, account: Account | None = None,
                config: "RetrievalConfig | None" = None, depth: int = 10) -> "Gathered":
        """What a question needs, from several candidate lists fused by reciprocal rank.

        Lists: dense (the embedding model, any language) and lexical (BM25: names, codes, numbers,
        exact words) over everything; when the question names one account, its own records, and
        the content library on its own, so an account question still reaches the case study,
        persona or playbook that fits (the content is also ranked for the account's industry).
        Each list votes 1/(60 + rank); a chunk found by several lists rises. The rules layer (hand-
        written question patterns) is off by default: `eval` prints whether it earns its place.
        """
        config = config or DEFAULT_CONFIG
        vector = self.embeddings.embed_query(question)
        mentioned = [account] if account else self.resolver.mentioned_in(question)
        account_id = mentioned[0].id if len(mentioned) == 1 else None
        wide = self.search_vector(vector, k=depth * 4)
        lists: list[list[Hit]] = [wide[:depth]]
        index = self.lexical() if config.lexical else None
        words = tokens(question)
        scores = index.scores(words) if index is not None else None
        if index is not None:
            lists.append(self._lexical_hits(index, index.top(scores, depth), vector))
        if config.pools:
            content = self.content_slice()
            lists.append(content.ranked(vector, depth))
            if index is not None:
                lists.append(self._lexical_hits(index, index.top(scores, depth, among=content.positions(index)), vector))
            own = self.account_slice(account_id) if account_id else None
            if own is not None and account_id:
                # the account's records by kind in turn (its best contact, deal, meeting, …): a vague question
                # ("where are we with X?") sees the whole account, not ten contacts that repeat its name
                own_lists = [by_kind_in_turn(own.ranked(vector, depth * 3))[:depth]]
                if index is not None:
                    lexical = self._lexical_hits(index, index.top(scores, depth * 3, among=own.positions(index)), vector)
                    own_lists.append(by_kind_in_turn(lexical)[:depth])
                # chosen (--account) or carried from the conversation ("what are THEY aiming for?"): the
                # question is about the account first, so its own lists count twice
                lists += own_lists * (2 if account is not None else 1)
                resolved = self.resolver.get(account_id)
                industry = resolved.industry if resolved else ""
                if industry:
                    # content written for this industry: the more specific to it (a case study), the earlier
                    fitting = content.ranked(vector, depth * 3, industry=industry)
                    fitting.sort(key=lambda hit: len(str(hit.metadata.get("industries") or "").split(",")))
                    lists.append(fitting[:depth])
        if config.rules:
            lists += self._rule_lists(question, vector, mentioned, account_id, depth, wide)
        if account is not None and account_id:
            # the person chose the account (or the conversation is about it): other accounts' records are noise
            lists = [[hit for hit in found if hit.metadata.get("account_id") in ("", None, account_id)]
                     for found in lists]
        if config.fusion:
            ranked = fuse(lists)
            if config.pools and account_id:
                # an account question keeps its best content and its best own record near the top, whichever
                # pool the fusion favoured: "which case study for <account>" needs both
                ranked = lift(ranked, lambda hit: hit.metadata.get("kind") == "content", POOL_SLOT)
                ranked = lift(ranked, lambda hit: hit.metadata.get("account_id") == account_id, POOL_SLOT)
        else:
            unique = {hit.id: hit for hit in (hit for found in lists for hit in found)}
            ranked = sorted(unique.values(), key=lambda hit: -hit.score)
        return Gathered(ranked, words, index, account_id)

    def _lexical_hits(self, index: "LexicalIndex", positions: list[int], vector: list[float]) -> list[Hit]:
        """Hits for lexical matches, with their cosine similarity to the question (one fetch of their vectors)."""
        import numpy as np

        if not positions:
            return []
        ids = [index.ids[p] for p in positions]
        got = self.store.chunks.get(ids=ids, include=["documents", "metadatas", "embeddings"])
        query = np.asarray(vector, dtype=np.float32)
        query = query / (np.linalg.norm(query) or 1.0)
        found: dict[str, Hit] = {}
        embeddings = got.get("embeddings")
        for i, chunk_id in enumerate(got["ids"]):
            row = np.asarray(embeddings[i], dtype=np.float32) if embeddings is not None else query
            score = float(row @ query / (np.linalg.norm(row) or 1.0))
            found[chunk_id] = Hit(chunk_id, got["documents"][i], got["metadatas"][i], score)
        return [found[chunk_id] for chunk_id in ids if chunk_id in found]

    def _rule_lists(self, question: str, vector: list[float], mentioned: list[Account], account_id: str | None,
                    depth: int, wide: list[Hit]) -> list[list[Hit]]:
        """The hand-written layer: question patterns that ask for a kind of record, and names typed literally."""
        content = self.content_slice()
        own = self.account_slice(account_id) if account_id else None
        lists: list[list[Hit]] = []
        for types, scoped in intents(question):
            content_types = [t for t in types if t not in CRM_TYPES]
            crm_types = [t for t in types if t in CRM_TYPES]
            if content_types:
                lists.append(content.ranked(vector, depth, types=content_types))
            if crm_types and own is not None and scoped:
                lists.append(own.ranked(vector, depth, types=crm_types))
            elif crm_types:
                lists.append([hit for hit in wide if hit.metadata.get("type") in crm_types][:depth])
        for term in literal_terms(question, skip=mentioned):
            lists.append(content.ranked(vector, depth, contains=term))
            if own is not None:
                lists.append(own.ranked(vector, depth, contains=term))
        return lists

    # -- in-memory slices

    def content_slice(self) -> "Slice":
        """The content library (small next to the CRM), kept in memory until the store changes."""
        self._current()
        content = self._content
        if content is None:
            content = Slice.load(self.store, {"kind": "content"}) or Slice([], [], [], [])
            self._content = content
        return content

    def lexical(self) -> LexicalIndex:
        """BM25 over every chunk, built on first use and again after the store changes."""
        self._current()
        index = self._lexical
        if index is None:
            with self._lock:
                index = self._lexical
                if index is None:
                    # read a page at a time and keep only the words: the texts of a large store never all
                    # sit in memory at once
                    ids: list[str] = []
                    words: list[list[str]] = []
                    while True:
                        page = self.store.chunks.get(include=["documents"], limit=LEXICAL_PAGE, offset=len(ids))
                        ids += page["ids"]
                        words += [tokens(text) for text in page["documents"] or []]
                        if len(page["ids"]) < LEXICAL_PAGE:
                            break
                    index = LexicalIndex(ids, [], tokenised=words)
                    self._lexical = index
        return index

    def account_slice(self, account_id: str) -> "Slice | None":
        return Slice.load(self.store, {"account_id": account_id}, limit=ACCOUNT_SLICE_LIMIT)


logger = logging.getLogger(__name__)
CONTENT_TTL = 60.0
GENERATION_CHECK = 5.0
LEXICAL_PAGE = 5000
CRM_TYPES = {"account", "contact", "opportunity", "activity", "lead"}
ACCOUNT_SLICE_LIMIT = 5000


class Slice:
    """A few thousand chunks with their vectors, ranked exactly with numpy."""

    def __init__(self, ids: list[str], texts: list[str], metas: list[dict[str, Any]], vectors: Any):
        import numpy as np

        self.ids, self.texts, self.metas = ids, texts, metas
        matrix = np.asarray(vectors, dtype=np.float32).reshape(len(ids), -1) if ids else np.zeros((0, 1), np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        self.matrix = matrix / np.where(norms == 0, 1.0, norms)

    def source_text(self, source: str) -> str:
        """All the text of one document (its chunks in order), e.g. to tell a case study's industry."""
        if not hasattr(self, "_by_source"):
            grouped: dict[str, list[tuple[int, str]]] = {}
            for text, meta in zip(self.texts, self.metas):
                grouped.setdefault(str(meta.get("source")), []).append((int(meta.get("chunk") or 0), text))
            self._by_source = {k: "\n".join(t for _, t in sorted(v)) for k, v in grouped.items()}
        return self._by_source.get(source, "")

    @classmethod
    def load(cls, store: KnowledgeStore, where: dict[str, Any], limit: int | None = None) -> "Slice | None":
        got = store.chunks.get(where=where, include=["documents", "metadatas", "embeddings"],
                               limit=(limit + 1) if limit else None)
        if limit and len(got["ids"]) > limit:
            return None
        vectors = got.get("embeddings")
        return cls(list(got["ids"]), list(got["documents"] or []), list(got["metadatas"] or []),
                   vectors if vectors is not None else [])

    def positions(self, index: LexicalIndex) -> list[int]:
        """Where this slice's chunks sit in the lexical index (to rank them by BM25 among themselves)."""
        return [index.position[i] for i in self.ids if i in index.position]

    def ranked(self, vector: list[float], k: int, *, kind: str | None = None, types: list[str] | None = None,
               contains: str | None = None, industry: str | None = None) -> list[Hit]:
        import numpy as np

        if not self.ids:
            return []
        query = np.asarray(vector, dtype=np.float32)
        query = query / (np.linalg.norm(query) or 1.0)
        scores = self.matrix @ query
        literal = literal_pattern(contains) if contains else None
        keep = [i for i in range(len(self.ids))
                if (kind is None or self.metas[i].get("kind") == kind)
                and (types is None or self.metas[i].get("type") in types)
                and (literal is None or literal.search(self.texts[i]))
                and (industry is None or _lists(self.metas[i].get("industries"), industry))]
        keep.sort(key=lambda i: -scores[i])
        return [Hit(self.ids[i], self.texts[i], self.metas[i], float(scores[i])) for i in keep[:k]]


def _lists(field: object, wanted: str) -> bool:
    """A comma-separated metadata field names this value (case and accents aside)."""
    return fold(wanted) in {fold(part) for part in str(field or "").split(",") if part.strip()}


@dataclass(frozen=True)
class RetrievalConfig:
    """Which parts of retrieval are on; `eval` switches them one by one (the ablation)."""

    lexical: bool = True
    fusion: bool = True
    pools: bool = True
    rules: bool = False


DEFAULT_CONFIG = RetrievalConfig()
ABLATION: tuple[tuple[str, RetrievalConfig], ...] = (
    ("dense only", RetrievalConfig(lexical=False, fusion=False, pools=False)),
    ("+lexical", RetrievalConfig(lexical=True, fusion=False, pools=False)),
    ("+fusion", RetrievalConfig(lexical=True, fusion=True, pools=False)),
    ("+account pools", RetrievalConfig(lexical=True, fusion=True, pools=True)),
    ("+rules", RetrievalConfig(lexical=True, fusion=True, pools=True, rules=True)),
)
RRF_K = 60


POOL_SLOT = 1  # 0-based: the best of each pool is at worst second


def lift(ranked: list[Hit], belongs: Any, slot: int) -> list[Hit]:
    """The first hit that belongs moved up to `slot` when it sits lower; the order is otherwise kept."""
    for index, hit in enumerate(ranked):
        if belongs(hit):
            if index > slot:
                return ranked[:slot] + [hit] + ranked[slot:index] + ranked[index + 1:]
            break
    return ranked


def by_kind_in_turn(hits: Sequence[Hit]) -> list[Hit]:
    """The best of each record type, then the second best of each, and so on (each type in its own order)."""
    groups: dict[str, list[Hit]] = {}
    for hit in hits:
        groups.setdefault(str(hit.metadata.get("type")), []).append(hit)
    turns = [group[i] for i in range(max((len(g) for g in groups.values()), default=0))
             for group in groups.values() if i < len(group)]
    return turns


def fuse(lists: Sequence[Sequence[Hit]]) -> list[Hit]:
    """Reciprocal rank fusion: each list gives 1/(RRF_K + rank); ties go to the closer passage."""
    votes: dict[str, float] = {}
    best: dict[str, Hit] = {}
    for found in lists:
        for rank, hit in enumerate(found, start=1):
            votes[hit.id] = votes.get(hit.id, 0.0) + 1.0 / (RRF_K + rank)
            best.setdefault(hit.id, hit)
    return sorted(best.values(), key=lambda hit: (-votes[hit.id], -hit.score))


@dataclass
class Gathered:
    """Fused candidates, best first, with what the question was read as."""

    hits: list[Hit]
    words: list[str]
    index: LexicalIndex | None
    account_id: str | None
_COMMON = {"Who", "What", "Which", "When", "Where", "Why", "How", "Has", "Have", "Is", "Are", "Do", "Does", "Did",
           "Can", "Could", "Should", "Would", "Will", "The", "A", "An", "And", "Or", "Any", "Give", "Tell", "Show",
           "List", "Find", "We", "Our", "Us", "I", "My", "Please", "Draft", "Write", "It", "Its", "In", "On", "For"}


def literal_pattern(term: str) -> re.Pattern[str]:
    """The term as a whole word, case as typed: "IT" must not match "VISIT"."""
    return re.compile(rf"(?<![\w/]){re.escape(term)}(?![\w/])")


def literal_terms(question: str, *, skip: Sequence[Account] = (), limit: int = 3) -> list[str]:
    """Proper names and codes in a question, minus account names (those have their own filter)."""
    skipped = {word for account in skip for word in re.findall(r"\w+", account.name)}
    found: list[str] = []
    for token in re.findall(r"[A-Za-z0-9][\w/&.-]*[A-Za-z0-9]", question):
        token = token.rstrip(".")
        is_name = token[0].isupper() or any(ch.isdigit() for ch in token) or "/" in token
        if is_name and token not in _COMMON and token not in skipped and token.rstrip("s'") not in skipped \
                and token not in found:
            found.append(token)
    return found[:limit]


# question wording -> record or content types worth a search of their own; scoped = within the account
_INTENTS: tuple[tuple[re.Pattern[str], list[str], bool], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), types, scoped) for pattern, types, scoped in (
        (r"next step|stage|deal|opportunit|pipeline|close date|amount|forecast(ed)? to close|renewal", ["opportunity"], True),
        (r"\bwho\b|contact|champion|sponsor|decision.?maker|buying committee|runs|in charge|head of|email address",
         ["contact", "activity"], True),
        (r"\bmet\b|meet|meeting|call|spoke|talked|visit|webinar|download|happened|trigger|news|latest|recent|last time|"
         r"said|told|mention|focus|priorit|concern|complain|asked", ["activity"], True),
        (r"customer story|case stud|proof|reference|success story|similar customer|example of a customer|results? (at|for)",
         ["case_study"], False),
        (r"persona|what (should|do) i (say|ask)|message|messaging|care about|keeps? .* up at night|pitch", ["persona"], False),
        (r"compet|versus|\bvs\b|against|battlecard|alternative|switch from", ["battlecard"], False),
        (r"playbook|how (do|should) (i|we)|approach|bottom.?up|top.?down|path to power|outreach|prospect", ["playbook"], False),
        (r"price|pricing|cost|licen[cs]e|discount|package|tier|soc ?2|security|gdpr|implement|integrat|connector|trial|"
         r"data (is )?(stored|hosted|kept)|hosting|data residency|region|privacy|complian|certif|uptime|sla\b",
         ["faq", "product", "pricing"], False),
    )
)


def intents(question: str) -> list[tuple[list[str], bool]]:
    return [(types, scoped) for pattern, types, scoped in _INTENTS if pattern.search(question)]
