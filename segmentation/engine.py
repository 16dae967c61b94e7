"""Run a playbook over contacts and companies: enrich, derive features, apply every model.

Pure: frames in, frames and a summary out; no I/O. Per object type: enrichment (which
parses the messy canonical fields once), the per-contact roll-up joins, the model
features, then each model's compiled rule expressions over the materialized frame —
grouped by distinct inputs where rows repeat them. Nothing loops over rows in Python.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from segmentation.enrich import (
    CANONICAL_KINDS,
    ENRICHED_COMPANY_COLUMNS,
    ENRICHED_CONTACT_COLUMNS,
    coerce_canonical,
    enrich_companies,
    enrich_contacts,
)
from segmentation.enrich.parse import TARGET_DTYPES
from segmentation.enrich.rollups import key_of
from segmentation.models import COMPANY, CONTACT, MODELS, derived_fields
from segmentation.models.behavioral import order_rollups
from segmentation.models.lifecycle import deal_rollups
from segmentation.playbook import (
    PERSONAL_FIELDS,
    FieldSpec,
    Playbook,
    PlaybookError,
    PlaybookIssue,
    RuleModel,
)
from segmentation.rules import (
    CANONICAL_FIELDS,
    JOIN_KEY,
    applicable,
    model_exprs,
    rule_schema,
    segment_frame,
)
from segmentation.statistics import STATISTICS_VERSION, check_statistics
from segmentation.value_models import add_clusters, add_value_models, apply_stored_clusters

PREFIX = "company_"


@dataclass(frozen=True, slots=True)
class SegmentResult:
    """Segmented frames (inputs + enrichment + features + segment/reason columns) and counts.

    ``summary`` is JSON-ready: ``{"rows": {"contacts": n, "companies": m}, "segments":
    {"contacts": {model: [{"segment", "count", "share"}, ...]}, "companies": {...}}}``,
    segments by count, largest first (ties by name, empty last).
    """

    contacts: pl.DataFrame
    companies: pl.DataFrame | None
    summary: dict[str, Any] = field(default_factory=dict)
    # The fitted clustering (ClusterModel.to_dict()), to pass back as ``previous_clusters``
    # next run so cluster labels keep their meaning.
    clusters: dict[str, Any] | None = None
    # The CLV fits used, by population ({"contacts"|"companies": ClvFit.to_dict()}), to
    # pass back as ``previous_clv`` so CLV need not be refitted every run; None when no
    # CLV was computed.
    clv_fit: dict[str, Any] | None = None
    # Every population-wide quantity the run used, as plain JSON to store and pass back
    # as ``segment(..., statistics=)`` (layout: :mod:`segmentation.statistics`). A run
    # given statistics returns them unchanged.
    statistics: dict[str, Any] = field(default_factory=dict)


def segment(
    contacts: pl.DataFrame,
    companies: pl.DataFrame | None = None,
    deals: pl.DataFrame | None = None,
    orders: pl.DataFrame | None = None,
    *,
    playbook: Playbook,
    now: datetime,
    previous: pl.DataFrame | None = None,
    previous_clusters: dict[str, Any] | None = None,
    previous_clv: Mapping[str, Any] | None = None,
    statistics: Mapping[str, Any] | None = None,
) -> SegmentResult:
    """Segment contacts (and companies, when given) with every model of ``playbook``.

    ``deals`` carry ``company_id`` and optionally ``contact_id``; ``orders`` carry
    ``contact_id``, ``order_date`` and ``amount``. Values may be as messy as CRMs hold
    them (text numbers and dates are parsed; unparseable ones count as missing).
    ``previous`` holds each record's last segments for forward-only models: ``id``, an
    optional ``object_type`` (``contact``/``company``; rows without one are contacts)
    and one column per forward-only model named like its output (``segment_lifecycle``);
    a two-column ``(id, stage)`` frame is read as the lifecycle model's previous stage.
    ``previous_clv`` is a stored :attr:`SegmentResult.clv_fit` to apply instead of
    refitting CLV (a population it lacks is fitted).

    Most models read a record and what it rolls up (its company; a company's contacts
    and deals; a contact's deals and orders) and nothing else. A few use population-wide
    quantities: RFM scores and CLV tiers are quantile ranks among all customers, CLV is
    fitted on every customer's history, and clusters are centroids (with the feature
    scaling and encodings) fitted on all contacts. A run returns them as
    :attr:`SegmentResult.statistics`; passing them back as ``statistics`` applies them
    instead of computing them on the frames given (scores and tiers by stored bounds,
    CLV by the stored fits, each contact to its nearest stored centroid), so segmenting
    some records together with what they roll up into gives each of them exactly what a
    run over the whole population gave it. ``previous_clv`` and ``previous_clusters``
    are then not read.

    Raises :class:`~segmentation.playbook.PlaybookError` when a rule does not fit the data,
    :class:`~segmentation.clv.ClvFitError` when a stored CLV fit has a bad parameter,
    :class:`~segmentation.statistics.StatisticsError` when ``statistics`` are from another
    engine version or do not fit the playbook's statistical settings.
    """
    stored = check_statistics(statistics) if statistics is not None else None
    now = _utc(now)
    ready = _prepare(contacts, companies, deals, orders, playbook, now)
    people, firms = ready.people, ready.firms
    if firms is None:
        contacts_out = segment_frame(people, playbook, CONTACT, now, previous)
        return _with_values(
            contacts_out,
            None,
            ready.deals,
            ready.orders,
            now,
            playbook,
            previous_clusters,
            previous_clv,
            stored,
        )
    # Each side sees the other's fields as typed nulls, so one rule set compiles on both:
    # a contact-only field never matches a company, nor a company-only one a contact.
    contacts_out = segment_frame(people, playbook, CONTACT, now, previous, other=firms.schema)
    companies_out = segment_frame(
        firms, playbook, COMPANY, now, previous, other=people.schema
    ).drop(ready.aliases)
    return _with_values(
        contacts_out,
        companies_out,
        ready.deals,
        ready.orders,
        now,
        playbook,
        previous_clusters,
        previous_clv,
        stored,
    )


@dataclass(frozen=True, slots=True)
class PopulationStatistics:
    """What a run over the whole population fits and ranks (see :func:`population_statistics`)."""

    statistics: dict[str, Any]
    clusters: dict[str, Any] | None
    clv_fit: dict[str, Any] | None


def population_statistics(
    contacts: pl.DataFrame,
    companies: pl.DataFrame | None = None,
    deals: pl.DataFrame | None = None,
    orders: pl.DataFrame | None = None,
    *,
    playbook: Playbook,
    now: datetime,
    previous: pl.DataFrame | None = None,
    previous_clusters: dict[str, Any] | None = None,
    previous_clv: Mapping[str, Any] | None = None,
) -> PopulationStatistics:
    """The statistics, cluster model and CLV fits :func:`segment` would return for these
    frames, for segmenting them afterwards a part at a time (``segment(part,
    statistics=...)``): a million contacts segmented at once hold several gigabytes.

    RFM, CLV and value tiers are ranked and fitted on the deals and orders alone, so
    without clustering no rule runs. Cluster features may be any column a contact ends
    up with, so a playbook that clusters segments the whole population once here.
    """
    section = playbook.clustering
    if section is not None and section.enabled:
        whole = segment(
            contacts,
            companies,
            deals,
            orders,
            playbook=playbook,
            now=now,
            previous=previous,
            previous_clusters=previous_clusters,
            previous_clv=previous_clv,
        )
        return PopulationStatistics(whole.statistics, whole.clusters, whole.clv_fit)
    now = _utc(now)
    deals = coerce_canonical(_typed_nulls(deals)) if deals is not None else None
    orders = coerce_canonical(_typed_nulls(orders)) if orders is not None else None
    # Ids (and the company link) are all the value models join onto.
    people = contacts.select(c for c in ("id", "company_id") if c in contacts.columns)
    firms = companies.select("id") if companies is not None else None
    _people, _firms, _notes, fits, populations = add_value_models(
        people, firms, deals, orders, now, playbook, previous_clv
    )
    statistics = {"version": STATISTICS_VERSION, "populations": populations, "clusters": None}
    return PopulationStatistics(statistics, None, fits or None)


@dataclass(frozen=True, slots=True)
class _Prepared:
    """The inputs enriched, rolled up and featured: what the rules of each side run on."""

    people: pl.DataFrame
    firms: pl.DataFrame | None
    aliases: list[str]  # the companies' own company_* columns, dropped from the output
    deals: pl.DataFrame | None
    orders: pl.DataFrame | None


def _prepare(
    contacts: pl.DataFrame,
    companies: pl.DataFrame | None,
    deals: pl.DataFrame | None,
    orders: pl.DataFrame | None,
    playbook: Playbook | None,
    now: datetime,
) -> _Prepared:
    """Enrichment, roll-up joins, model features and declared fields, for both sides.

    With no ``playbook``, no declared fields and every model's features at their
    defaults: the fields any playbook may name.
    """
    models = list(playbook.models.values()) if playbook is not None else []
    declared = playbook.fields if playbook is not None else {}
    contacts = _typed_nulls(contacts)
    companies = _typed_nulls(companies) if companies is not None else None
    # Enrichment parses contacts and companies itself; deals and orders are parsed once
    # here because both enrichment's and the models' roll-ups read them.
    deals = coerce_canonical(_typed_nulls(deals)) if deals is not None else None
    orders = coerce_canonical(_typed_nulls(orders)) if orders is not None else None

    firms_enriched = (
        enrich_companies(companies, contacts, deals, now=now) if companies is not None else None
    )
    # The enriched companies are reused for the contacts' company_* columns.
    people_plan = enrich_contacts(contacts, firms_enriched, now=now).lazy()
    if "id" in contacts.columns:
        if orders is not None and "contact_id" in orders.columns:
            people_plan = _join_rollup(people_plan, order_rollups(orders.lazy(), now))
        if deals is not None and "contact_id" in deals.columns:
            people_plan = _join_rollup(people_plan, deal_rollups(deals))
    people = _declared(_with_features(people_plan.collect(), models, now), declared)
    if firms_enriched is None:
        return _Prepared(people, None, [], deals, orders)
    firms, aliases = _as_own_company(firms_enriched, people.columns)
    firms = _declared(_with_features(firms, models, now), declared, derived=False)
    return _Prepared(people, firms, aliases, deals, orders)


def _sides(ready: _Prepared) -> list[tuple[pl.DataFrame, str, pl.Schema | None]]:
    """(frame, object type, the other side's schema) for contacts and, if any, companies."""
    if ready.firms is None:
        return [(ready.people, CONTACT, None)]
    return [
        (ready.people, CONTACT, ready.firms.schema),
        (ready.firms, COMPANY, ready.people.schema),
    ]


def rule_schemas(
    contacts: pl.DataFrame,
    companies: pl.DataFrame | None = None,
    deals: pl.DataFrame | None = None,
    orders: pl.DataFrame | None = None,
    *,
    now: datetime,
    playbook: Playbook | None = None,
) -> dict[str, dict[str, pl.DataType]]:
    """The schema rules are compiled against, per object type, for inputs like these.

    The inputs may be empty: only their columns matter (the frames a field map yields
    before any pull will do). Without ``playbook``, the fields any playbook may name
    besides those it declares itself: what :func:`~segmentation.playbook.parse_playbook`
    takes as ``known_fields``.
    """
    ready = _prepare(contacts, companies, deals, orders, playbook, _utc(now))
    return {
        object_type: rule_schema(frame.schema, other)[0]
        for frame, object_type, other in _sides(ready)
    }


def validate_playbook(
    contacts: pl.DataFrame,
    companies: pl.DataFrame | None = None,
    deals: pl.DataFrame | None = None,
    orders: pl.DataFrame | None = None,
    *,
    playbook: Playbook,
    now: datetime,
) -> None:
    """Raise :class:`~segmentation.playbook.PlaybookError` with every problem :func:`segment`
    would raise on inputs with these columns, of every model on both sides at once.

    The inputs may be empty: this runs the same preparation and compiles the same models
    against the same schemas as :func:`segment`, without any data, so a playbook this
    accepts compiles on any pull with these columns.
    """
    now = _utc(now)
    ready = _prepare(contacts, companies, deals, orders, playbook, now)
    redact = PERSONAL_FIELDS | playbook.personal_fields()
    issues: dict[PlaybookIssue, None] = {}  # both sides often report the same problem
    for frame, object_type, other in _sides(ready):
        schema, _ = rule_schema(frame.schema, other)
        try:
            model_exprs(applicable(frame, playbook, object_type), schema, now, redact)
        except PlaybookError as exc:
            issues.update(dict.fromkeys(exc.errors))
    if issues:
        raise PlaybookError(list(issues))


def _with_values(
    contacts: pl.DataFrame,
    companies: pl.DataFrame | None,
    deals: pl.DataFrame | None,
    orders: pl.DataFrame | None,
    now: datetime,
    playbook: Playbook,
    previous_clusters: dict[str, Any] | None = None,
    previous_clv: Mapping[str, Any] | None = None,
    statistics: Mapping[str, Any] | None = None,
) -> SegmentResult:
    """RFM, CLV, value tiers and clusters where configured and possible, then the summary.

    With ``statistics`` (checked), these apply the stored population quantities;
    without, they compute them on these frames and the result carries them.
    """
    models = list(playbook.models.values())
    contacts, companies, notes, clv_fits, populations = add_value_models(
        contacts,
        companies,
        deals,
        orders,
        now,
        playbook,
        previous_clv,
        None if statistics is None else statistics["populations"],
    )
    if statistics is None:
        contacts, clusters, skipped = add_clusters(contacts, playbook, previous_clusters)
    else:
        contacts, clusters, skipped = apply_stored_clusters(
            contacts, playbook, statistics.get("clusters")
        )
    if skipped:
        notes["clusters"] = skipped
    section = playbook.clustering
    clustered = section is not None and section.enabled
    used = (
        copy.deepcopy(dict(statistics))
        if statistics is not None
        else {
            "version": STATISTICS_VERSION,
            "populations": populations,
            "clusters": {"model": clusters, "note": skipped} if clustered else None,
        }
    )
    summary = summarize(contacts, companies, models)
    extra = (
        ("rfm", "segment_rfm"),
        ("value_tier", "segment_value_tier"),
        ("cluster", "segment_cluster"),
    )
    for label, frame in (("contacts", contacts), ("companies", companies)):
        if frame is None or label not in summary["segments"]:
            continue
        for model, column in extra:
            if column in frame.columns:
                summary["segments"][label][model] = _counts(frame, column)
    if notes:
        summary["notes"] = notes
    return SegmentResult(contacts, companies, summary, clusters, clv_fits or None, used)


def _counts(frame: pl.DataFrame, column: str) -> list[dict[str, Any]]:
    total = max(frame.height, 1)
    counts = (
        frame.group_by(pl.col(column).alias("segment"))
        .len("count")
        .sort(["count", "segment"], descending=[True, False], nulls_last=True)
    )
    return [
        {"segment": segment, "count": count, "share": round(count / total, 6)}
        for segment, count in counts.iter_rows()
    ]


def apply_playbook(
    frame: pl.DataFrame,
    playbook: Playbook,
    *,
    now: datetime,
    previous: pl.DataFrame | None = None,
    object_type: str = CONTACT,
) -> pl.DataFrame:
    """The models of ``playbook`` over an already enriched frame (no enrichment, no joins).

    Adds the model features and every applicable model's segment and reason columns;
    :func:`segment` is this plus enrichment, roll-ups and companies.
    """
    now = _utc(now)
    models = list(playbook.models.values())
    enriched = _declared(_with_features(frame, models, now), playbook.fields)
    return segment_frame(enriched, playbook, object_type, now, previous)


def available_fields(contacts: pl.Schema, companies: pl.Schema | None = None) -> set[str]:
    """Every field a playbook rule may test, given inputs with these schemas.

    The canonical fields, the input columns, what enrichment adds (the contact's
    ``company_*`` columns and the companies' own roll-ups included) and every model
    feature: what a playbook is validated against before a run reads its data.
    """
    names = set(contacts.names()) | set(CANONICAL_FIELDS) | set(derived_fields())
    names |= set(ENRICHED_CONTACT_COLUMNS) | set(ENRICHED_COMPANY_COLUMNS)
    if companies is not None:
        names |= set(companies.names())
    return names


def summarize(
    contacts: pl.DataFrame, companies: pl.DataFrame | None, models: list[RuleModel]
) -> dict[str, Any]:
    """Rows per object type and, per model, each segment's count and share of rows."""
    summary: dict[str, Any] = {"rows": {"contacts": contacts.height}, "segments": {}}
    frames = {"contacts": contacts}
    if companies is not None:
        summary["rows"]["companies"] = companies.height
        frames["companies"] = companies
    for label, frame in frames.items():
        summary["segments"][label] = {
            model.name: _counts(frame, model.resolved_output)
            for model in models
            if model.resolved_output in frame.columns
        }
    return summary


def _utc(now: datetime) -> datetime:
    # A naive "now" is UTC, like the CRM timestamps it is compared with.
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def _typed_nulls(frame: pl.DataFrame) -> pl.DataFrame:
    """All-empty columns with a type rules can compare against.

    A column that is empty in a whole export reads as polars' Null type; it becomes its
    canonical type (enrichment parses the rest), or text.
    """
    nulls = [c for c, t in frame.schema.items() if t == pl.Null]
    if not nulls:
        return frame
    return frame.with_columns(
        pl.col(c).cast(TARGET_DTYPES[CANONICAL_KINDS[c]] if c in CANONICAL_KINDS else pl.String())
        for c in nulls
    )


def _join_rollup(frame: pl.LazyFrame, rollup: pl.LazyFrame) -> pl.LazyFrame:
    """Left-join per-contact roll-ups by id (as trimmed text, so 12 meets "12").

    A column the frame already has is kept; a contact with no rows counts zero.
    """
    schema = frame.collect_schema()
    rollup_schema = rollup.collect_schema()
    added = [c for c in rollup_schema.names() if c != "contact_id" and c not in schema]
    counts = [c for c in added if rollup_schema[c].is_integer()]
    right = rollup.select(pl.col("contact_id").alias(JOIN_KEY), *added)
    left = frame.with_columns(key_of(pl.col("id")).alias(JOIN_KEY))
    joined = left.join(right, on=JOIN_KEY, how="left", maintain_order="left").drop(JOIN_KEY)
    return joined.with_columns(pl.col(c).fill_null(0) for c in counts) if counts else joined


def _with_features(frame: pl.DataFrame, models: list[RuleModel], now: datetime) -> pl.DataFrame:
    """Every model's derived features; a column the input already has is left alone.

    Features of all known models are added, not only of those in the playbook: any rule
    may read them (a lifecycle gate on ``days_since_engaged``, say). Features of text
    fields (keyword text, interest tags, stage and gender spellings) are computed once
    per distinct input and joined back: a CRM holds a few hundred distinct use cases or
    interest lists across a million records, and regexes over text are the costly part.
    """
    schema = frame.schema
    by_name = {m.name: m for m in models}
    direct: list[pl.Expr] = []
    by_inputs: dict[tuple[str, ...], list[pl.Expr]] = {}
    added: set[str] = set()
    for name, spec in MODELS.items():
        for column, expr in spec.features(schema, by_name.get(name), now).items():
            if column in schema or column in added:
                continue
            added.add(column)
            inputs = tuple(sorted(set(expr.meta.root_names())))
            if inputs and all(schema[c] == pl.String for c in inputs):
                by_inputs.setdefault(inputs, []).append(expr.alias(column))
            else:
                direct.append(expr.alias(column))
    frame = frame.with_columns(direct) if direct else frame
    for inputs, exprs in by_inputs.items():
        table = frame.select(inputs).unique().with_columns(exprs)
        frame = frame.join(
            table, on=list(inputs), how="left", maintain_order="left", nulls_equal=True
        )
    return frame


def _declared(
    frame: pl.DataFrame, declared: Mapping[str, FieldSpec], *, derived: bool = True
) -> pl.DataFrame:
    """The playbook's ``declared`` fields in their declared types (nulls when absent) and,
    with ``derived``, every derived field (roll-ups of a file not given are null).
    """
    schema = frame.schema
    exprs = [
        pl.lit(None, dtype).alias(name)
        for name, dtype in (derived_fields().items() if derived else ())
        if name not in schema and name not in declared
    ]
    for name, spec in declared.items():
        if name not in schema:
            exprs.append(pl.lit(None, spec.dtype).alias(name))
        elif schema[name] != spec.dtype:
            exprs.append(pl.col(name).cast(spec.dtype, strict=False))
    return frame.with_columns(exprs) if exprs else frame


def _as_own_company(
    firms: pl.DataFrame, contact_columns: list[str]
) -> tuple[pl.DataFrame, list[str]]:
    """A company answers for its own ``company_*`` fields: its ``company_industry`` is its
    ``industry``, so rules written for contacts-by-their-company segment companies too.
    Returns the frame and the alias columns (dropped from the output).
    """
    have = set(firms.columns)
    aliases = {
        name: name[len(PREFIX) :]
        for name in contact_columns
        if name.startswith(PREFIX) and name not in have and name[len(PREFIX) :] in have
    }
    if not aliases:
        return firms, []
    return firms.with_columns(pl.col(src).alias(dst) for dst, src in aliases.items()), list(aliases)
