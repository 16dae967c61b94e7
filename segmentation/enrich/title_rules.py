"""Job-title rules: what the seniority (``title_seniority``) and department
(``title_departments``) tables share. Each table is ordered (value, patterns), first match
wins.

Patterns are regular expressions (Rust ``regex`` syntax: no look-around) matched
against the *folded* title (see ``normalize.fold``): lower case, accents removed,
punctuation turned into single spaces, dotted abbreviations joined ("Sr. V.P." ->
"sr vp"). German "ä/ö/ü" fold to "a/o/u"; the spelled-out "ae/oe/ue" forms are listed
where they occur. CJK is matched as written; ``\b`` is an ASCII word boundary, so it also
stands where CJK meets Latin letters ("取締役CFO" -> "取締役cfo" reads "cfo").

Each table compiles to one regex per row (see ``titles.py``), so the whole title
vocabulary is classified in a few dozen vectorized passes over the distinct titles.

The words are those of English, French, German, Spanish, Portuguese, Italian, Dutch and
Japanese titles (with their gendered forms: -a, -in, -e, -ora, -ster). The conventions the
rules follow (the kind of thing a RevOps team argues about: Account Manager and Customer
Success Manager are individual contributors, "Head of" is director, a CxO's department is
its function, founders, owners, partners and the local words for the head of a company are
c-level) are written down once, with the labelled corpus that measures them, in
``tests/data/job_titles/README.md``.
"""

from __future__ import annotations

# Abbreviations spelled out (per folded word) before any rule runs, so the rules can be
# written once: "Sr. Acct Mgr" -> "senior account manager", "VP, Eng" -> "vp engineering".
# Ambiguous ones stay as they are and are matched by the rules themselves (PM: product
# or project manager; AE; CSM; ops in "rev ops").
ABBREVIATIONS: dict[str, str] = {
    "mgr": "manager",
    "mngr": "manager",
    "mgmt": "management",
    "acct": "account",
    "accts": "accounts",
    "exec": "executive",
    "eng": "engineering",
    "engr": "engineer",
    "mktg": "marketing",
    "mkt": "marketing",
    "dir": "director",
    "sr": "senior",
    "snr": "senior",
    "jr": "junior",
    "svc": "service",
    "svcs": "services",
    "asst": "assistant",
    "assoc": "associate",
    "coord": "coordinator",
    "spec": "specialist",
    "cust": "customer",
    "intl": "international",
    "rep": "representative",
    "managerin": "manager",
    "sw": "software",
    "hos": "head of sales",
    "resp": "responsable",
}

NO_SENIORITY = "none"  # rule value meaning "not in the workforce": becomes null

# Words for "owner", "founder" and "partner" in the languages the rules read; c-level
# for seniority, "executive" for department.
OWNERS = (
    r"\bco ?founder\b|\bfounder\b|\bfounding partner\b|\bcofounder\b"
    r"|\b(?:co ?)?fondat(?:eur|rice|ore|ori|rici)\b|\b(?:co ?)?fundador(?:a|es)?\b"
    r"|\b(?:mitbe)?gr(?:u|ue)nder(?:in)?\b|\b(?:mede ?)?oprichter\b|\boprichtster\b"
    r"|\bowner\b|\bco ?owner\b|\bproprietor\b|\bproprietaire\b|\bpropietari[oa]\b"
    r"|\bproprietari[oa]\b|\bdue[nñ][oa]\b|\binhaber(?:in)?\b|\btitolare\b"
    r"|eigent(?:u|ue)mer(?:in)?\b"
    r"|\beigena(?:ar|res|resse)\b|\bvennoot\b|\bzaakvoer(?:der|ster)\b|\bdga\b"
)
# The head of the whole company in local words.
COMPANY_HEADS = (
    r"gesch(?:a|ae)ftsf(?:u|ue)hrer(?:in)?|\bgf\b|vorstand"
    r"|\bpdg\b|\bdirect(?:eur|rice) general[e]?\b|\bpresident directeur\b|\bdirigeant[e]?s?\b"
    r"|\bdirector[a]? general\b|\bdiretor[a]? geral\b|\bdirettore generale\b"
    r"|\bgerente general\b|\bgerente geral\b|\bgerante?\b|\bsocio\b|\bsocia\b"
    r"|\bamministrat(?:ore|rice) (?:delegat[oa]|unic[oa])\b|^ad$|^dg$"
    r"|\bdelegue[e]? general[e]?\b|\bconse(?:jer[oa]|ller[oa]?) delegad[oa]\b"
    r"|\bconsiglier[ea] delegat[oa]\b|arbeitsdirekt|aufsichtsrat|\badministrador[a]? executiv"
    r"|\b(?:conselho|consiglio|consejo|conseil) d[aei]? ?(?:l )?a?(?:dministra|mministra)"
    r"|\bdirect(?:eur|rice) associee?\b|^associee?$|\bassociee? (?:gerante?|fondat)"
    r"|\bdiretor[a]? executiv[oa]$|\bdiretor[a]? president[ea]\b|\bdirector[a]? ejecutiv[oa]$"
    r"|\bdirector[a]? geral\b|^waarnemend directeur$|\bvoorzitter\b|\braad van (?:bestuur|comm)"
    r"|^administrador[a]?$|\balgemeen directeur\b|\bdirecteur (?:generaal|eigena)"
    r"|\b(?:statutair|gedelegeerd) (?:bestuurder|directeur)\b|^bestuurder$|\bdirecteur bestuurder\b"
    r"|\bself ?employed\b|\bselbststandig|^autonom[oa]$|\bentrepreneur\b"
    r"|代表取締役|代表執行役|代表社員|代表理事|^代表$|社長|取締役|会長|創業|オーナー|总经理|总裁|董事"
)
# "The person in charge of X" in the Romance languages, Dutch and German: a manager.
IN_CHARGE = (
    r"\bresponsabil[ei]\b|\bresponsable\b|\bresponsavel\b|\bencar(?:g|reg)ad[oa]\b"
    r"|verantwoordelijke\b|\bverantwortliche[r]?\b|\bf(?:u|ue)hrungskraft\b"
)

# The value a non-empty title gets when no seniority rule matches.
SENIORITY_DEFAULT = "individual_contributor"
# And when no department rule matches.
DEPARTMENT_DEFAULT = "other"

SENIORITIES = ("c_level", "vp", "director", "manager", "individual_contributor")
DEPARTMENTS = (
    "executive",
    "sales",
    "marketing",
    "engineering",
    "product",
    "finance",
    "hr",
    "it",
    "operations",
    "customer_success",
    "legal",
    "other",
)
