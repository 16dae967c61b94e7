"""Job-title rules: ordered (value, patterns) tables, first match wins.

Patterns are regular expressions (Rust ``regex`` syntax: no look-around) matched
against the *folded* title (see ``normalize.fold``): lower case, accents removed,
punctuation turned into single spaces, dotted abbreviations joined ("Sr. V.P." ->
"sr vp"). German "ä/ö/ü" fold to "a/o/u"; the spelled-out "ae/oe/ue" forms are listed
where they occur. CJK titles are matched as written.

Each table compiles to one regex per row (see ``titles.py``), so the whole title
vocabulary is classified in a dozen vectorized passes.

Conventions decided here (they are the kind of thing a RevOps team argues about):

* "Manager" titles that manage a book of business, a product or a project rather than
  people are individual contributors: account / key account / customer success /
  client / relationship / territory / partner and channel / business development /
  product / product marketing / project and program / community managers. A manager of
  a function ("Marketing Manager", "IT Manager", "Sales Manager") manages.
* "Head of X" is director level; "VP"/"Vice President" (SVP, EVP, AVP) is vp.
* Founders, owners, presidents, managing directors, partners of a firm and the
  local-language heads of a company (Geschäftsführer, Directeur Général, PDG, Gérant,
  Director General, Gerente General, Amministratore Delegato, 代表取締役) are c_level.
* A CxO's department is its function (CFO -> finance, CTO -> engineering, CRO ->
  sales); a general executive (CEO, founder, owner, MD) is "executive".
* Students, retirees and homemakers have no seniority (null); interns are individual
  contributors.
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
}

NO_SENIORITY = "none"  # rule value meaning "not in the workforce": becomes null

SENIORITY_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        NO_SENIORITY,
        (
            r"^(?:phd |graduate |undergraduate |university |college |high school )?"
            r"(?:student|etudiante?|estudiante|studentin|retired|retiree|retraitee?|rentnerin"
            r"|rentner|pensionato|pensionista|jubilad[oa]|aposentad[oa]|homemaker|housewife"
            r"|househusband|stay at home (?:mom|dad|parent)|unemployed|job ?seeker)$",
        ),
    ),
    # Titles containing a c-level word that are not c-level.
    (
        "individual_contributor",
        (r"\b(?:product|process|service|data|system|application|platform|account) owner\b",),
    ),
    ("director", (r"\bchief of staff\b",)),
    (
        "c_level",
        (
            r"\b(?:ceo|cfo|cto|coo|cmo|cro|cio|ciso|cso|cpo|cdo|cco|chro|cao|cxo|cbo|cgo|clo"
            r"|cno)\b",
            r"\bchief (?:\w+ ){0,3}officer\b",
            r"\bchief executive\b",
            r"\bco ?founder\b|\bfounder\b|\bfounding partner\b|\bcofounder\b",
            r"\bfondat(?:eur|rice)\b|\bfundador[a]?\b|\bgr(?:u|ue)nder(?:in)?\b",
            r"\bowner\b|\bco ?owner\b|\bproprietor\b|\bproprietaire\b|\bpropietari[oa]\b"
            r"|\bproprietari[oa]\b|\bdue[nñ]o\b|\binhaber(?:in)?\b",
            r"gesch(?:a|ae)ftsf(?:u|ue)hrer(?:in)?|\bgf\b|\bvorstand",
            r"\bpdg\b|\bdirect(?:eur|rice) general[e]?\b|\bpresident directeur\b",
            r"\bdirector[a]? general\b|\bdiretor[a]? geral\b|\bdirettore generale\b",
            r"\bgerente general\b|\bgerente geral\b|\bamministratore delegato\b",
            r"\bgerante?\b|\bsocio\b|\bsocia\b",
            r"\bself ?employed\b|\bselbststandig|\bautonomo\b|\bentrepreneur\b",
            r"代表取締役|社長|取締役|总经理|总裁|董事长|首席",
        ),
    ),
    (
        "vp",
        (
            r"\b(?:vp|svp|evp|avp|rvp|gvp)\b|\bvice ?pres|\bvicepres|\bvize ?pr(?:a|ae)sident",
            r"\bgeneral counsel\b",
            r"副社長|専務|常務|副总裁|本部長",
        ),
    ),
    (
        "c_level",
        (
            r"\bpresident[e]?\b|\bpr(?:a|ae)sident(?:in)?\b",
            r"\bmanaging director\b|^md$|^md |\bmanaging partner\b|\bgeneral partner\b",
            r"^(?:senior |managing |founding |equity |name )?partner$",
            r"^directeur$",  # Dutch: the managing director of the company
            r"\bchair(?:man|woman|person)?\b|\bboard member\b|\bmember of the board\b",
        ),
    ),
    # Lead roles below the "Leiter"/"jefe" director words.
    (
        "manager",
        (
            r"\bteam ?lead(?:er)?\b|\bteamleiter(?:in)?\b|\bgruppenleiter(?:in)?\b",
            r"\bchef d equipe\b|\bjefe de equipo\b|\bcoordenador[a]?\b",
            r"\bgroup product manager\b",
        ),
    ),
    (
        "individual_contributor",
        (
            r"projektleiter(?:in)?|projectleider|\bchef de projet\b|\bjefe de proyecto\b",
            r"\bproject lead\b|\btech(?:nical)? lead\b|\blead (?:engineer|developer)\b",
        ),
    ),
    (
        "director",
        (
            r"\bdirector[a]?\b|\bdirect(?:eur|rice)\b|\bdirett(?:ore|rice)\b|\bdiretor[a]?\b",
            r"\bdirektor(?:in)?\b|\bdir\b",
            r"\bhead of\b|\bhead\b|\bhoofd\b",
            r"leiter(?:in)?\b|\bleitung\b",
            r"\bchief\b|\bgeneral manager\b|\bgm\b|\bprokurist(?:in)?\b|\bdaf\b|\bdrh\b",
            r"部長|总监",
        ),
    ),
    # Manager by title, individual contributor by convention (see module docstring).
    (
        "individual_contributor",
        (
            r"\baccount ?manager\b|\bkey account\b|\bclient (?:success )?manager\b",
            r"\bcustomer (?:success |relationship |experience )?manager\b",
            r"\brelationship manager\b|\bterritory (?:sales )?manager\b",
            r"\b(?:channel|partner|partnerships?|alliances?) manager\b",
            r"\bbusiness development manager\b|\bbdm\b",
            r"\bproduct (?:marketing )?manager\b|\bproduktmanager|\bproductmanager",
            r"\b(?:project|program|programme) manager\b|\bprojektmanager|\bprojectmanager",
            r"\b(?:community|social media|category|case) manager\b",
        ),
    ),
    (
        "manager",
        (
            r"manager\b|\bmgr\b",
            r"\bgerente\b|\bresponsable\b|\bresponsabile\b|\bjef[ea]\b|\bchef (?:de|des|du|d)\b",
            r"\bsupervis(?:or|eur|ora)\b|\bforeman\b|\bcontroller\b",
            r"マネージャー|マネジャー|課長|係長|经理|主管",
        ),
    ),
)

# The value a non-empty title gets when no rule matches.
SENIORITY_DEFAULT = "individual_contributor"

# Departments. Ordered so that the specific beats the general: "Product Marketing" is
# marketing before "product" is product, "Sales Engineer" is sales before "engineer"
# is engineering, "IT Support" is IT before "support" is customer success.
DEPARTMENT_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "legal",
        (
            r"\blegal\b|\bcounsel\b|\blawyer\b|\battorney\b|\bparalegal\b|\bcompliance\b",
            r"\bjurist|\bjuridi|\babogad[oa]\b|\bavocat|\bavvocat|\brechtsanw|\bjustiziar",
            r"\bsyndikus\b|\bnotar|\bgc\b|\bclo\b|\bprivacy\b|法務|法务",
        ),
    ),
    (
        "hr",
        (
            r"\bhr\b|\bhrbp\b|\bhuman resources?\b|\bpeople\b|\btalent\b|\brecruit",
            r"\bpayroll\b|\bcompensation\b|\bbenefits\b|\blearning and development\b",
            r"\bchro\b|\bressources humaines\b|\brh\b|\bdrh\b|\brecursos humanos\b",
            r"\bpersonal(?:leiter|referent|abteilung|wesen|entwicklung|chef|sachbearbeiter)",
            r"\brisorse umane\b|\bheadhunter\b|人事|人力资源",
        ),
    ),
    (
        "finance",
        (
            r"\baccounts? (?:payable|receivable)\b|\baccounting\b|\baccountant\b|\bbookkeep",
            r"\bcomptab|\bcontab|\bcontador[a]?\b|\bbuchhalt|\bboekhoud",
        ),
    ),
    ("it", (r"\bit (?:support|help ?desk|service)|\bhelp ?desk\b|\bservice desk\b",)),
    (
        "customer_success",
        (
            r"\bcustomer (?:success|support|service|care|experience|happiness)\b",
            r"\bchief customer\b",
            r"\bclient (?:success|services?|support)\b|\bcsm\b|\bcsr\b|\bcx\b|\btam\b",
            r"\btechnical account manager\b|\bsupport\b|\bonboarding\b",
            r"\bservice client\b|\bkundenservice\b|\bkundenbetreuung\b|\bkundendienst\b",
            r"\batencion al cliente\b|\bsucesso do cliente\b|\bexito del cliente\b",
            r"カスタマーサクセス|カスタマーサポート|客服",
        ),
    ),
    (
        "marketing",
        (r"\bproduct marketing\b|\bpmm\b|\bmarketing op(?:eration)?s\b|\bmops\b",),
    ),
    ("operations", (r"\brevenue operations\b|\brev ?ops\b",)),
    (
        "sales",
        (
            r"\bsales\b|\bsale\b|\bsdr\b|\bbdr\b|\bae\b|\bbdm\b|\bcro\b|\bchief revenue\b",
            r"\baccount (?:exec|executive|manager|director|lead)|\bacct exec|\baccountmanager",
            r"\bkey account|\bbusiness develop|\bbiz ?dev\b|\bterritory\b|\binside sales\b",
            r"\bchannel\b|\bpartnerships?\b|\balliances?\b|\bpre ?sales\b",
            r"\bsolutions? (?:consultant|engineer)\b|\bsales ?(?:rep|representative)\b",
            r"\bpartner (?:manager|account|sales|development)\b",
            r"\bvendedor[a]?\b|\bvende(?:ur|use)\b|\bvenditore\b",
            r"\bejecutivo de cuentas\b|\bexecutivo de contas\b|\bcharge d affaires\b",
            r"\bingenieur d affaires\b|\bingeniero de ventas\b",
            r"vertrieb|verkauf|\bventas\b|\bventes?\b|\bvendas\b|\bvendite\b|\bverkoop",
            r"\bcommercial|\bcomercial|\bcommerciale\b|\bcommercieel\b",
            r"営業|销售",
        ),
    ),
    (
        "marketing",
        (
            r"marketing|\bmktg\b|\bcmo\b|\bgrowth\b|\bdemand gen|\bseo\b|\bsem\b|\bppc\b",
            r"\bcontent\b|\bbrand\b|\bcommunications?\b|\bcomms\b|\bpr\b|\bpublic relations\b",
            r"\bsocial media\b|\bcommunity\b|\bevents?\b|\bcopywrit|\bcampaigns?\b",
            r"\badvertising\b|\bmercadeo\b|\bmercadotecnia\b|\bkommunikation\b",
            r"マーケティング|广告|市场",
        ),
    ),
    (
        "finance",
        (
            r"\bfinanc|\bcfo\b|\bcontroll|\bcontroleu|\bcomptroller\b|\btreasur|\btax\b|\baudit",
            r"\bfp ?a\b|\binvestor relations\b|\bfinanz|\bfinancas\b|\bfinanceir[oa]\b",
            r"\btesorer|\btresorer|\bbilling\b|\bcredit\b|\bdaf\b|\bkaufm(?:a|ae)nnisch",
            r"経理|財務|财务|会计",
        ),
    ),
    (
        "operations",
        (
            r"\bproduction\b|\bmanufacturing\b|\bplant\b|\bfactory\b",
            r"\bquality (?:control|manager|management|inspector)\b",
            r"\bsupply chain\b|\blogisti|\bwarehouse\b|\bfulfil?ment\b|\bproduktion",
            r"\bstore\b|\bbranch\b|\bshop\b|\brestaurant\b",
        ),
    ),
    (
        "product",
        (
            r"\bproducts?\b|\bproduit\b|\bproducto\b|\bprodukt\b|\bprodotto\b|\bproduto\b",
            r"\bproduktmanag|\bproductmanag|\bproduct ?owner\b|\bpm\b|\bcpo\b",
            r"\bux\b|\bui\b|\buser experience\b|\bdesign|\bdesigner\b",
            r"プロダクト|製品|产品",
        ),
    ),
    (
        "it",
        (
            r"\bit\b|\bcio\b|\bciso\b|\bchief information\b|\binformation technology\b",
            r"\binformation security\b|\binfosec\b|\bcyber ?security\b|\bsecurity\b",
            r"\bsys ?admin\b|\bsystems? admin|\bnetwork|\binfrastructure\b|\bdesktop\b",
            r"\bti\b|\binformatique\b|\bdsi\b|\binformatica\b|\binformatik\b|\bsistemas\b",
            r"\bedv\b|\btecnologia\b|情報システム|信息",
        ),
    ),
    (
        "engineering",
        (
            r"engineer|\bengineering\b|\bingenieur|\bingenier[oa]\b|\bengenheir[oa]\b",
            r"\bingegnere\b|developer|\bdevelopment\b|\bdev\b|\bdevops\b|\bsre\b|\bswe\b",
            r"\bsde\b|software|\bprogramm|\bprogramador|\bcoder\b|\barchitect",
            r"\bdata\b|\bmachine learning\b|\bml\b|\bai\b|\bqa\b|\bquality assurance\b",
            r"\btester\b|\bscrum\b|\bcto\b|\bchief technology\b|\btechnolog|\btech\b",
            r"entwickl|\bdeveloppeu|\bdesarrollador|\bdesenvolvedor|\bsviluppatore\b",
            r"\brd\b|\bresearch\b|\bscientist\b|エンジニア|開発|技術|工程师|研发",
        ),
    ),
    (
        "operations",
        (
            r"\boperations?\b|\bops\b|\bcoo\b|\bchief operating\b|\bprocurement\b",
            r"\bpurchas|\bbuyer\b|\beinkauf|\beink(?:a|ae)ufer|\bachats?\b|\bacheteu",
            r"\bcompras?\b|\bcomprador[a]?\b|\bacquisti\b|\binko(?:op|per)",
            r"\bfacilit|\boffice\b|\badmin|\bassistant[e]?\b|\breceptionist\b",
            r"\bproje[ck]t|\bprojet\b|\bproyecto|\bprojeto\b|\bprogetto\b|\bprojectleider",
            r"\bprogram(?:me)? manager\b|\bpmo\b|\bbusiness analyst\b|\bbusiness operations\b",
            r"\bstrateg|\bprocess\b|\boperaciones\b|\boperacoes\b|\bbetrieb",
            r"購買|総務|采购|运营",
        ),
    ),
    (
        "executive",
        (
            r"\bchief\b|\bceo\b|\bfounder\b|\bco ?founder\b|\bcofounder\b|\bowner\b",
            r"\bpresident|\bmanaging director\b|^md$|^md |\bpartner\b|\bgeneral manager\b",
            r"\bgm\b|\bexecutive director\b|\bchair|\bboard\b|\bproprietor\b",
            r"\bcountry manager\b|\bcountry director\b",
            r"gesch(?:a|ae)ftsf(?:u|ue)hrer|\binhaber|\bvorstand|\bprokurist",
            r"\bdirect(?:eur|rice) general|\bpdg\b|\bgerante?\b|\bdirector[a]? general\b",
            r"\bgerente general\b|\bgerente geral\b|\bdiretor[a]? geral\b",
            r"\bdirettore generale\b|\bamministratore delegato\b|\bsocio\b|\bsocia\b",
            r"\bself ?employed\b|\bentrepreneur\b|\bfondat|\bfundador|\bgr(?:u|ue)nder",
            r"^directeur$|代表取締役|社長|取締役|总经理|总裁|董事",
        ),
    ),
)

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
