"""Salesforce campaigns, one per segment, and their members kept equal to the segment.

A campaign's members are the contacts and leads whose segment field segsync last wrote
holds that segment. What segsync added is recorded (``campaign_members``), so a run
diffs the segment against that record and changes only what moved: a person whose
segment changed leaves one campaign and joins another, two row writes; a run where no
segment moved writes nothing. Given the people a run changed (``people``), only they
are looked at. Campaigns themselves follow the playbook as lists do (``lists.py``): a
renamed segment keeps its campaign under the new name, dropped ones go with ``--prune``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import polars as pl

from connectors.salesforce.campaigns import NewMember, SalesforceCampaigns
from connectors.salesforce.connector import SalesforceConnector
from segmentation.playbook import Playbook
from workers.activation.plan import Report, Step, Wanted, renamed_segments, wanted
from workers.state import StateStore
from workers.state.activations import Member

PEOPLE = ("contact", "lead")
DESCRIPTION = "Kept by segsync: the people in segment {segment} of the {model} model."
Key = tuple[str, str, str]
KEYS = ("campaign_id", "object_type", "record_id")  # one membership


@dataclass
class CampaignsReport(Report):
    """What an activation of Salesforce campaigns did or would do, members included."""

    added: int = 0
    removed: int = 0
    rejected: list[str] = field(default_factory=list)
    # A campaign's filter is its members, so a campaign has no "update" of its own.
    WRITE_ACTIONS: ClassVar[tuple[str, ...]] = ("create", "rename", "delete")

    @property
    def writes(self) -> int:
        """Campaign and member writes made (or planned)."""
        return super().writes + self.added + self.removed

    def details(self) -> dict[str, Any]:
        return {
            "members_added": self.added,
            "members_removed": self.removed,
            "rejected": self.rejected,
        }


def sync_campaigns(
    connector: SalesforceConnector,
    store: StateStore,
    playbook: Playbook,
    *,
    dry_run: bool = False,
    prune: bool = False,
    status: str | None = None,
    people: Mapping[str, set[str]] | None = None,
) -> CampaignsReport:
    """Campaigns per segment of each model marked ``campaigns``, and their members."""
    crm = connector.crm
    campaigns = connector.campaigns
    calls = connector.usage().calls_made
    report = CampaignsReport(dry_run)
    want = {w.key: w for w in wanted(playbook, "campaign", connector.field_name)}
    held = _campaigns(campaigns, store, crm, want, report, prune)
    _members(campaigns, store, crm, want, held, report, status, people)
    report.calls = connector.usage().calls_made - calls
    return report


def _campaigns(
    campaigns: SalesforceCampaigns,
    store: StateStore,
    crm: str,
    want: dict[Key, Wanted],
    report: CampaignsReport,
    prune: bool,
) -> dict[Key, str]:
    """The campaign id of every wanted segment (created, adopted or renamed as needed)."""
    kept = {(a.model, a.object_type, a.segment): a for a in store.activations(crm, "campaign")}
    live: dict[Key, dict[str, Any]] = {}
    existing = campaigns.live([a.remote_id for a in kept.values()]) if kept else {}
    for key, activation in kept.items():
        found = existing.get(activation.remote_id)
        if found is not None:
            live[key] = found
        elif not report.dry_run:
            store.drop_activation(crm, activation)
    missing = [w for key, w in want.items() if key not in live]
    stale = [key for key in live if key not in want]
    held: dict[Key, str] = {}
    for new_key, old in renamed_segments(missing, stale).items():
        w = want[new_key]
        campaign_id = str(live[old]["Id"])
        stale.remove(old)
        if not report.dry_run:
            campaigns.rename(campaign_id, w.name)
            store.save_activation(crm, w.kept_as(campaign_id))
            store.drop_activation(crm, kept[old])
        report.steps.append(Step.wanted("rename", w, campaign_id, f"was {live[old]['Name']}"))
        held[w.key] = campaign_id
    for key, w in want.items():
        if key in held:
            continue
        if key in live:
            campaign_id = str(live[key]["Id"])
            if live[key]["Name"] != w.name:
                if not report.dry_run:
                    campaigns.rename(campaign_id, w.name)
                    store.save_activation(crm, w.kept_as(campaign_id))
                report.steps.append(
                    Step.wanted("rename", w, campaign_id, f"was {live[key]['Name']}")
                )
            else:
                report.steps.append(Step.wanted("keep", w, campaign_id))
            held[key] = campaign_id
            continue
        found = campaigns.find(w.name)
        if found is not None:
            held[key] = str(found["Id"])
            if not report.dry_run:
                store.save_activation(crm, w.kept_as(held[key]))
            report.steps.append(Step.wanted("adopt", w, held[key], "found by its name"))
            continue
        if report.dry_run:
            report.steps.append(Step.wanted("create", w, None))
            continue
        description = DESCRIPTION.format(segment=w.segment, model=w.model)
        held[key] = campaigns.create(w.name, description)
        store.save_activation(crm, w.kept_as(held[key]))
        report.steps.append(Step.wanted("create", w, held[key]))
    for key in stale:
        activation = kept[key]
        if prune:
            if not report.dry_run:
                campaigns.delete(activation.remote_id)
                members = store.campaign_members(crm, [activation.remote_id])
                store.remove_campaign_members(crm, [m.member_id for m in members])
                store.drop_activation(crm, activation)
            report.steps.append(Step.kept("delete", activation))
        else:
            detail = "its segment is no longer in the playbook; `--prune` deletes it"
            report.steps.append(Step.kept("stale", activation, detail))
    return held


def _members(
    campaigns: SalesforceCampaigns,
    store: StateStore,
    crm: str,
    want: dict[Key, Wanted],
    held: dict[Key, str],
    report: CampaignsReport,
    status: str | None,
    people: Mapping[str, set[str]] | None,
) -> None:
    """Add the people who entered a segment, remove those who left it (diffed columnar)."""
    keys = list(KEYS)
    desired = _desired(store, crm, want, held, people)
    recorded = store.campaign_member_frame(crm).filter(
        pl.col("campaign_id").is_in(list(held.values()))
    )
    if people is not None:
        recorded = recorded.filter(_among(people))
    leaving = recorded.join(desired, on=keys, how="anti")["member_id"].to_list()
    joining = [NewMember(*row) for row in desired.join(recorded, on=keys, how="anti").iter_rows()]
    report.removed, report.added = len(leaving), len(joining)
    if report.dry_run:
        return
    if leaving:
        refused = campaigns.remove(leaving)
        store.remove_campaign_members(crm, [m for m in leaving if m not in refused])
        report.rejected += [f"remove {member}: {why}" for member, why in refused.items()]
    if not joining:
        return
    confirmed: list[Member] = []
    again: dict[tuple[str, str], list[str]] = {}
    for result in campaigns.add(joining, status):
        m = result.member
        if result.member_id is not None:
            confirmed.append(Member(m.campaign_id, m.object_type, m.record_id, result.member_id))
        elif result.code == "DUPLICATE_VALUE":  # a member already: adopt its row
            again.setdefault((m.campaign_id, m.object_type), []).append(m.record_id)
        else:
            report.rejected.append(
                f"add {m.object_type} {m.record_id}: {result.code} {result.reason}"
            )
    for (campaign_id, object_type), ids in again.items():
        found = campaigns.member_ids(campaign_id, object_type, ids)
        confirmed += [Member(campaign_id, object_type, r, i) for r, i in found.items()]
    store.add_campaign_members(crm, confirmed)
    report.added = len(confirmed)


def _desired(
    store: StateStore,
    crm: str,
    want: dict[Key, Wanted],
    held: dict[Key, str],
    people: Mapping[str, set[str]] | None,
) -> pl.DataFrame:
    """(campaign_id, object_type, record_id) of everyone whose written segment has a
    campaign: every person, or just ``people``."""
    schema = pl.Schema(
        {"campaign_id": pl.String(), "object_type": pl.String(), "record_id": pl.String()}
    )
    parts = [pl.DataFrame(schema=schema)]
    fields = {w.model: w.field for w in want.values()}
    for model, native in fields.items():
        campaign_of = pl.DataFrame(
            [(w.segment, held[key]) for key, w in want.items() if w.model == model and key in held],
            schema={"value": pl.String, "campaign_id": pl.String},
            orient="row",
        )
        for object_type in PEOPLE:
            written = _written(store, crm, object_type, native, people)
            parts.append(
                written.join(campaign_of, on="value").select(
                    "campaign_id", pl.lit(object_type).alias("object_type"), "record_id"
                )
            )
    return pl.concat(parts).unique(keep="first")


def _written(
    store: StateStore,
    crm: str,
    object_type: str,
    native: str,
    people: Mapping[str, set[str]] | None,
) -> pl.DataFrame:
    """``record_id, value`` of the segment field segsync last wrote: all, or ``people``."""
    schema = {"record_id": pl.String, "value": pl.String}
    if people is None:
        return store.written_field(crm, object_type, native)
    ids = people.get(object_type, set())
    written = store.last_written(crm, object_type, ids, fields=[native])
    rows = [(rid, v.get(native)) for rid, v in written.items()]
    return pl.DataFrame(rows, schema=schema, orient="row")


def _among(people: Mapping[str, set[str]]) -> pl.Expr:
    """Rows about one of ``people``."""
    conditions = [
        (pl.col("object_type") == kind) & pl.col("record_id").is_in(list(ids))
        for kind, ids in people.items()
    ]
    return pl.any_horizontal(conditions) if conditions else pl.lit(False)
