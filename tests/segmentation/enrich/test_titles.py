"""Seniority and department from free-text job titles."""

from __future__ import annotations

import polars as pl
import pytest

from connectors.sandbox.seed.generate import job_titles
from segmentation.enrich.title_rules import DEPARTMENTS, SENIORITIES
from segmentation.enrich.titles import classify_title, classify_unique_titles, title_columns

C, VP, DIR, MGR, IC = "c_level", "vp", "director", "manager", "individual_contributor"

# Every title the sandbox seed uses, with the classification a RevOps lead would give.
SANDBOX_TITLES: dict[str, tuple[str | None, str]] = {
    "CEO": (C, "executive"),
    "Chief Executive Officer": (C, "executive"),
    "Founder & CEO": (C, "executive"),
    "Co-Founder": (C, "executive"),
    "Founder": (C, "executive"),
    "CTO": (C, "engineering"),
    "Chief Technology Officer": (C, "engineering"),
    "CFO": (C, "finance"),
    "COO": (C, "operations"),
    "CMO": (C, "marketing"),
    "Chief Marketing Officer": (C, "marketing"),
    "CRO": (C, "sales"),
    "Chief Revenue Officer": (C, "sales"),
    "CIO": (C, "it"),
    "CISO": (C, "it"),
    "President": (C, "executive"),
    "Owner": (C, "executive"),
    "Managing Director": (C, "executive"),
    "MD": (C, "executive"),
    "Partner": (C, "executive"),
    "General Manager": (DIR, "executive"),
    "VP Sales": (VP, "sales"),
    "VP of Sales": (VP, "sales"),
    "Vice President, Sales": (VP, "sales"),
    "VP Marketing": (VP, "marketing"),
    "VP of Marketing": (VP, "marketing"),
    "VP Engineering": (VP, "engineering"),
    "VP of Engineering": (VP, "engineering"),
    "SVP Operations": (VP, "operations"),
    "VP, Customer Success": (VP, "customer_success"),
    "EVP Finance": (VP, "finance"),
    "vp sales": (VP, "sales"),
    "Head of Sales": (DIR, "sales"),
    "Head of Marketing": (DIR, "marketing"),
    "Head of Growth": (DIR, "marketing"),
    "Head of RevOps": (DIR, "operations"),
    "Head of Data": (DIR, "engineering"),
    "Head of IT": (DIR, "it"),
    "Head of Product": (DIR, "product"),
    "Head of People": (DIR, "hr"),
    "Director of Sales": (DIR, "sales"),
    "Sales Director": (DIR, "sales"),
    "Marketing Director": (DIR, "marketing"),
    "Director of Marketing": (DIR, "marketing"),
    "Director, IT": (DIR, "it"),
    "IT Director": (DIR, "it"),
    "Director of Engineering": (DIR, "engineering"),
    "Sr. Director, Demand Generation": (DIR, "marketing"),
    "Finance Director": (DIR, "finance"),
    "Dir. of Operations": (DIR, "operations"),
    "Engineering Manager": (MGR, "engineering"),
    "Sales Manager": (MGR, "sales"),
    "Marketing Manager": (MGR, "marketing"),
    "Product Manager": (IC, "product"),
    "Sr. Product Manager": (IC, "product"),
    "Senior Product Manager": (IC, "product"),
    "Project Manager": (IC, "operations"),
    "Operations Manager": (MGR, "operations"),
    "Account Manager": (IC, "sales"),
    "Key Account Manager": (IC, "sales"),
    "Strategic Account Manager": (IC, "sales"),
    "Account Executive": (IC, "sales"),
    "Senior Account Executive": (IC, "sales"),
    "Sr. AE": (IC, "sales"),
    "AE": (IC, "sales"),
    "Enterprise Account Executive": (IC, "sales"),
    "SDR": (IC, "sales"),
    "BDR": (IC, "sales"),
    "Sales Development Representative": (IC, "sales"),
    "Business Development Manager": (IC, "sales"),
    "Customer Success Manager": (IC, "customer_success"),
    "CSM": (IC, "customer_success"),
    "RevOps Manager": (MGR, "operations"),
    "Revenue Operations Analyst": (IC, "operations"),
    "Sales Operations Manager": (MGR, "sales"),
    "Marketing Ops Specialist": (IC, "marketing"),
    "Marketing Operations Manager": (MGR, "marketing"),
    "Demand Generation Manager": (MGR, "marketing"),
    "Content Marketing Manager": (MGR, "marketing"),
    "SEO Specialist": (IC, "marketing"),
    "Software Engineer": (IC, "engineering"),
    "Sr. Software Engineer": (IC, "engineering"),
    "Senior Software Engineer": (IC, "engineering"),
    "Staff Engineer": (IC, "engineering"),
    "Full Stack Developer": (IC, "engineering"),
    "Frontend Developer": (IC, "engineering"),
    "Data Analyst": (IC, "engineering"),
    "Data Scientist": (IC, "engineering"),
    "Data Engineer": (IC, "engineering"),
    "DevOps Engineer": (IC, "engineering"),
    "Solutions Architect": (IC, "engineering"),
    "IT Manager": (MGR, "it"),
    "Sysadmin": (IC, "it"),
    "System Administrator": (IC, "it"),
    "Procurement Manager": (MGR, "operations"),
    "Purchasing Manager": (MGR, "operations"),
    "Buyer": (IC, "operations"),
    "Office Manager": (MGR, "operations"),
    "HR Manager": (MGR, "hr"),
    "Recruiter": (IC, "hr"),
    "Talent Acquisition Specialist": (IC, "hr"),
    "Financial Analyst": (IC, "finance"),
    "Controller": (MGR, "finance"),
    "Accountant": (IC, "finance"),
    "Consultant": (IC, "other"),
    "Senior Consultant": (IC, "other"),
    "Analyst": (IC, "other"),
    "Business Analyst": (IC, "operations"),
    "Executive Assistant": (IC, "operations"),
    "Intern": (IC, "other"),
    "Student": (None, "other"),
    "Sales": (IC, "sales"),
    "Marketing": (IC, "marketing"),
    "Manager": (MGR, "other"),
    "Customer Support Specialist": (IC, "customer_success"),
    "Support Engineer": (IC, "customer_success"),
    # French
    "Directeur Commercial": (DIR, "sales"),
    "Directeur Général": (C, "executive"),
    "Responsable Marketing": (MGR, "marketing"),
    "Chef de projet": (IC, "operations"),
    "Ingénieur logiciel": (IC, "engineering"),
    "Chargé d'affaires": (IC, "sales"),
    "Directrice Marketing": (DIR, "marketing"),
    "Gérant": (C, "executive"),
    "Responsable des achats": (MGR, "operations"),
    "Développeur": (IC, "engineering"),
    # German
    "Geschäftsführer": (C, "executive"),
    "Vertriebsleiter": (DIR, "sales"),
    "Leiter IT": (DIR, "it"),
    "Projektleiter": (IC, "operations"),
    "Softwareentwickler": (IC, "engineering"),
    "Marketingleiterin": (DIR, "marketing"),
    "Einkaufsleiter": (DIR, "operations"),
    "Prokurist": (DIR, "executive"),
    "Teamleiter Vertrieb": (MGR, "sales"),
    # Spanish
    "Jefe de Ventas": (MGR, "sales"),
    "Director Comercial": (DIR, "sales"),
    "Gerente de Marketing": (MGR, "marketing"),
    "Ingeniero de Software": (IC, "engineering"),
    "Director General": (C, "executive"),
    "Responsable de Compras": (MGR, "operations"),
    "Gerente General": (C, "executive"),
    "Ejecutivo de Cuentas": (IC, "sales"),
    # Portuguese
    "Diretor Comercial": (DIR, "sales"),
    "Gerente de Vendas": (MGR, "sales"),
    "Gerente de TI": (MGR, "it"),
    "Analista de Marketing": (IC, "marketing"),
    "Engenheiro de Software": (IC, "engineering"),
    "Sócio-Diretor": (C, "executive"),
    "Coordenador de Compras": (MGR, "operations"),
    # Italian
    "Responsabile Commerciale": (MGR, "sales"),
    "Amministratore Delegato": (C, "executive"),
    "Direttore Marketing": (DIR, "marketing"),
    "Ingegnere del Software": (IC, "engineering"),
    "Responsabile Acquisti": (MGR, "operations"),
    # Dutch
    "Directeur": (C, "executive"),
    "Accountmanager": (IC, "sales"),
    "Commercieel Directeur": (DIR, "sales"),
    "Projectleider": (IC, "operations"),
    "Inkoper": (IC, "operations"),
    # Japanese
    "営業部長": (DIR, "sales"),
    "代表取締役": (C, "executive"),
    "マーケティングマネージャー": (MGR, "marketing"),
    "エンジニア": (IC, "engineering"),
    "課長": (MGR, "other"),
}

# Titles that name a level but no function: "other" is the right department for them.
NO_EVIDENT_DEPARTMENT = {
    "Consultant",
    "Senior Consultant",
    "Analyst",
    "Intern",
    "Student",
    "Manager",
    "課長",
}


def test_the_table_covers_every_sandbox_title() -> None:
    assert set(job_titles()) == set(SANDBOX_TITLES)


@pytest.mark.parametrize(("title", "expected"), SANDBOX_TITLES.items())
def test_sandbox_titles(title: str, expected: tuple[str | None, str]) -> None:
    assert classify_title(title) == expected


def test_sandbox_departments_are_evident_for_at_least_98_percent() -> None:
    classified = classify_unique_titles(sorted(set(job_titles())))
    evident = classified.filter(~pl.col("title").is_in(sorted(NO_EVIDENT_DEPARTMENT)))
    share = evident.filter(pl.col("department") != "other").height / evident.height
    assert share >= 0.98, evident.filter(pl.col("department") == "other")
    # And every title has a level unless it is not a job.
    assert classified.filter(pl.col("seniority").is_null())["title"].to_list() == ["Student"]


MORE_TITLES = [
    # abbreviations and punctuation
    ("Sr. VP of Sales", (VP, "sales")),
    ("SVP, Global Sales", (VP, "sales")),
    ("AVP Finance", (VP, "finance")),
    ("Snr Account Manager", (IC, "sales")),
    ("Territory Sales Manager", (IC, "sales")),
    ("Regional Sales Manager", (MGR, "sales")),
    ("Senior Manager, Customer Success", (MGR, "customer_success")),
    ("Head of Customer Success", (DIR, "customer_success")),
    ("Chief Product Officer", (C, "product")),
    ("Chief People Officer", (C, "hr")),
    ("Chief of Staff", (DIR, "executive")),
    ("Founder/CEO", (C, "executive")),
    ("Co-founder & CTO", (C, "engineering")),
    ("SWE II", (IC, "engineering")),
    ("Senior SWE", (IC, "engineering")),
    ("HRBP", (IC, "hr")),
    ("HR Business Partner", (IC, "hr")),
    ("PM", (IC, "product")),
    ("Product Marketing Manager", (IC, "marketing")),
    ("Group Product Manager", (MGR, "product")),
    ("Product Owner", (IC, "product")),
    ("Technical Account Manager", (IC, "customer_success")),
    ("Channel Partner Manager", (IC, "sales")),
    ("Team Lead, Support", (MGR, "customer_success")),
    ("Tech Lead", (IC, "engineering")),
    ("General Counsel", (VP, "legal")),
    ("Head of Legal", (DIR, "legal")),
    ("Paralegal", (IC, "legal")),
    ("IT Support Specialist", (IC, "it")),
    ("Production Manager", (MGR, "operations")),
    ("Accounts Payable Specialist", (IC, "finance")),
    ("Executive Director", (DIR, "executive")),
    ("Vice-Président Ventes", (VP, "sales")),
    ("Chief Customer Officer", (C, "customer_success")),
    ("Solutions Engineer", (IC, "sales")),
    ("Partner Manager", (IC, "sales")),
    ("Country Manager", (MGR, "executive")),
    ("Store Manager", (MGR, "operations")),
    # abbreviations spelled out
    ("VP, Eng", (VP, "engineering")),
    ("Dir Eng", (DIR, "engineering")),
    ("Sr. Acct Mgr", (IC, "sales")),
    ("Acct Exec", (IC, "sales")),
    ("Exec Assistant", (IC, "operations")),
    ("Cust Success Mgr", (IC, "customer_success")),
    ("Mktg Mgr", (MGR, "marketing")),
    ("Rev Ops Manager", (MGR, "operations")),
    # French, German, Spanish
    ("Directeur commercial", (DIR, "sales")),
    ("DAF", (DIR, "finance")),
    ("DRH", (DIR, "hr")),
    ("Assistante de direction", (IC, "operations")),
    ("Kaufmännischer Leiter", (DIR, "finance")),
    ("Vendedor", (IC, "sales")),
    ("Directrice des ressources humaines", (DIR, "hr")),
    ("Responsable RH", (MGR, "hr")),
    ("Comptable", (IC, "finance")),
    ("Contrôleur de gestion", (IC, "finance")),
    ("PDG", (C, "executive")),
    ("Geschaeftsfuehrer", (C, "executive")),
    ("Leiter Vertrieb", (DIR, "sales")),
    ("Vertriebsmitarbeiter", (IC, "sales")),
    ("Personalreferentin", (IC, "hr")),
    ("Rechtsanwalt", (IC, "legal")),
    ("Gerente de ventas", (MGR, "sales")),
    ("Director de marketing", (DIR, "marketing")),
    ("Jefe de Marketing", (MGR, "marketing")),
    ("Abogado", (IC, "legal")),
    ("Fundador y CEO", (C, "executive")),
    # not jobs, and non-titles
    ("Retired", (None, "other")),
    ("PhD Student", (None, "other")),
    ("Self-employed", (C, "executive")),
    ("Teacher", (IC, "other")),
    ("   ", (None, None)),
    ("N/A", (None, None)),
    ("-", (None, None)),
    ("", (None, None)),
]


@pytest.mark.parametrize(("title", "expected"), MORE_TITLES)
def test_more_titles(title: str, expected: tuple[str | None, str | None]) -> None:
    assert classify_title(title) == expected


# Titles holding a word another rule reads: the word must not win.
BORROWED_WORDS = [
    ("Programme Manager", (IC, "operations")),  # not a programmer
    ("Analista de Contas a Pagar", (IC, "finance")),  # accounts payable, not account sales
    ("Suporte ao Cliente", (IC, "customer_success")),  # customer, not IT, support
    ("Customer Support Technician", (IC, "customer_success")),
    ("Gerente de Redes Sociais", (IC, "marketing")),  # social networks, not IT networks
    ("Functioneel beheerder", (IC, "it")),  # an application administrator manages no one
    ("Applicatiebeheerder", (IC, "it")),
    ("Marktleiter", (DIR, "operations")),  # a German store manager, not market research
    ("営業代表", (IC, "sales")),  # a sales representative, not the representative director
    ("プロダクトオーナー", (IC, "product")),
    ("Labor and Delivery Nurse", (IC, "other")),
    ("Assistente personale", (IC, "operations")),  # a personal assistant, not personnel
]


@pytest.mark.parametrize(("title", "expected"), BORROWED_WORDS)
def test_borrowed_words(title: str, expected: tuple[str | None, str]) -> None:
    assert classify_title(title) == expected


# Japanese titles written with Latin abbreviations: the abbreviation is read where it stands.
MIXED_SCRIPTS = [
    ("取締役CFO", (C, "finance")),
    ("代表取締役CEO", (C, "executive")),
    ("IT部長", (DIR, "it")),
    ("R&D次長", (DIR, "engineering")),
    ("執行役員 CHRO", (C, "hr")),
]


@pytest.mark.parametrize(("title", "expected"), MIXED_SCRIPTS)
def test_mixed_scripts(title: str, expected: tuple[str | None, str]) -> None:
    assert classify_title(title) == expected


def test_title_columns_follow_rows_and_keep_nulls() -> None:
    titles = pl.Series("job_title", ["CEO", None, "Account Manager", "CEO", " vp SALES "])
    out = title_columns(titles)
    assert out.rows() == [
        (C, "executive"),
        (None, None),
        (IC, "sales"),
        (C, "executive"),
        (VP, "sales"),
    ]


def test_values_stay_in_their_sets() -> None:
    classified = classify_unique_titles([t for t, _ in MORE_TITLES] + list(SANDBOX_TITLES))
    assert set(classified["seniority"].drop_nulls()) <= set(SENIORITIES)
    assert set(classified["department"].drop_nulls()) <= set(DEPARTMENTS)
