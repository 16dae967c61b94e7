"""Seniority from a folded job title: an ordered (value, patterns) table, first match wins.

The words shared with the department rules and the conventions live in ``title_rules``.
"""

from __future__ import annotations

from segmentation.enrich.title_rules import (
    COMPANY_HEADS,
    IN_CHARGE,
    NO_SENIORITY,
    OWNERS,
)

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
    # Interns and trainees, whatever else the title names ("Trainee Brand Manager").
    (
        "individual_contributor",
        (
            r"\b(?:intern|internship|trainee|estagio|stagiair[e]?|stagiaire|stagist[ae]|tirocinante"
            r"|estagiari[oa]|praktikant(?:in)?|becari[oa]|werkstudent(?:in)?)\b|インターン",
        ),
    ),
    # Titles containing a c-level word that are not c-level.
    (
        "individual_contributor",
        (
            r"\b(?:product|process|service|data|system|application|platform|account) owner\b",
            r"\bassistant to\b|\bsecretar\w* (?:to|of)\b|秘書|プロダクトオーナー",
        ),
    ),
    (
        "director",
        (
            r"\bchief of staff\b|\b(?:assistant|associate|deputy) general counsel\b",
            r"\bdiret(?:or|ora) geral de (?:vendas|marketing|operacoes|financas|tecnologia"
            r"|recursos humanos|comercial|produto)\b",
        ),
    ),
    # Japanese vice presidents and executive officers, before the 社長/取締役 they contain.
    (
        "vp",
        (
            r"副社長|副会長|専務|常務|\bdirect(?:eur|rice) general[e]? adjoint[e]?\b",
            r"\bdirector[a]? general adjunt[oa]\b|\bdiretor[a]? geral adjunt[oa]\b",
            r"\bvicedirett(?:ore|rice) generale\b|\bplaatsvervangend (?:algemeen )?directeur\b",
            r"\bstellvertretende[rn]? (?:\w+ )?(?:haupt)?gesch(?:a|ae)ftsf(?:u|ue)hrer",
            r"\bdirect(?:eur|rice) delegue[e]?\b",
        ),
    ),
    (
        "c_level",
        (
            r"\b(?:ceo|cfo|cto|coo|cmo|cro|cio|ciso|cso|cpo|cdo|cco|chro|cao|cxo|cbo|cgo|clo"
            r"|cno)\b",
            r"\bchief (?:\w+ ){0,3}officer\b|\bchief executive\b|\bprincipal responsavel\b",
            r"最高.{0,12}責任者|首席|監査役",
            OWNERS,
            COMPANY_HEADS,
        ),
    ),
    (
        "vp",
        (
            r"\b(?:vp|svp|evp|avp|rvp|gvp)\b|\bvice ?pres|\bvicepres|\bvize ?pr(?:a|ae)sident",
            r"\bgeneral counsel\b",
            r"\bconsejer[oa] general\b|\bcondirett|執行役員|副总裁|本部長|事業部長",
        ),
    ),
    (
        "c_level",
        (
            r"\bpresident[e]?\b|\bpr(?:a|ae)sident(?:in)?\b",
            r"\bmanaging director\b|^md$|^md |\bmanaging partner\b|\bgeneral partner\b",
            r"^(?:senior |managing |founding |equity |name )?partner$",
            r"^directeur$",  # Dutch: the managing director of the company
            r"\bchair(?:man|woman|person)?\b|\bboard member\b|\bmember of the board\b|\bnon ?exec",
        ),
    ),
    # Lead roles below the "Leiter"/"jefe" director words.
    (
        "manager",
        (
            r"\bteam ?lead(?:er)?\b|\bteamleiter(?:in)?\b|\bgruppenleiter(?:in)?\b",
            r"\bteam ?leitung\b|\b(?:shift|operations|ops|support|site|store|squad|crew)"
            r" lead(?:er)?\b",
            r"\bteamleid(?:er|ster)\b|\bcapo ?(?:squadra|reparto|ufficio|turno)\b|\bcapo\b",
            r"\bchef d equipe\b|\bjefe de equipo\b|\bl(?:i|ii)der de equip[ae]\b"
            r"|\bchefe de equip[ae]\b",
            r"\bcoordenador[a]?\b|\bcoordinat(?:ore|rice|ori|rici|eur)\b|\bcoordinador[a]?\b",
            r"\bl(?:i|ii)der\b|\bsubgerente\b",
            r"\bgroup product manager\b|リーダー|グループ長|チーム長",
        ),
    ),
    (
        "individual_contributor",
        (
            r"projektleiter(?:in)?|projectleider|\bchef(?:fe)? de projets?\b|\bjefe de proyecto\b",
            r"\bproject lead\b|\btech(?:nical)? lead\b|\blead (?:engineer|developer)\b",
        ),
    ),
    (
        "director",
        (
            r"\bdirector[a]?\b|\bdirect(?:eur|rice)\b|\bdirett(?:ore|rice)\b|\bdiretor[a]?\b",
            r"directeur\b|direktor(?:in)?\b|\bdir\b|\bdirigent[ei]\b",
            r"\bhead of\b|\bhead\b|hoofd\b|\bhoofd",
            r"leiter(?:in)?\b|\bleitung\b",
            r"(?:marketing|vertriebs|verkaufs|finanz|einkaufs|technik|produktions)chef(?:in)?\b",
            r"\bchief\b|\bgeneral manager\b|\bgm\b|\bprokurist(?:in)?\b|\bdaf\b|\bdrh\b|\bdsi\b",
            r"部長|次長|室長|支店長|工場長|センター長|責任者|总监",
        ),
    ),
    # Manager by title, individual contributor by convention (see module docstring).
    (
        "individual_contributor",
        (
            r"\baccount ?manager\b|\bkey account\b|\bclient (?:success )?manager\b",
            r"\bcustomer (?:success |relationship |experience )?manager\b",
            r"\b(?:client |customer )?relationship manager\b|\bclient relations manager\b",
            r"\bterritory (?:sales )?manager\b",
            r"\b(?:channel|partner|partnerships?|alliances?) manager\b",
            r"\bbusiness ?development ?manager\b|\bbdm\b",
            r"\bproduct (?:marketing )?manager\b|\bproduktmanager|\bproductmanager",
            r"\b(?:project|program|programme) manager\b|\bprojektmanager|\bprojectmanager",
            r"\b(?:community|social media|category|case|candidate) manager\b",
            r"\b(?:klantbeleving|gastrelatie|relatie)manager|\bmanager klantbeleving\b",
            # The same managers of a book, a product or a project in the Romance languages.
            r"\b(?:(?:responsabil[ei]|responsavel|gestor[a]?|gerente)"
            r" (?:(?:de|da|do|dos|das|dei|del"
            r"|della|dello|delle|di|pela|pelo) )?|manager (?:de|da|do|dos|das|dei|del|della|dello"
            r"|delle|di) )(?:gestao de )?(?:prodott|produt|product"
            r"|projet|progett|proyect|contas|client|categor|bases? de dados|redes|experiencia"
            r"|customer experience|relac|relazioni con i clienti|desenvolvimento de (?:novos )?neg"
            r"|desarrollo de neg|sviluppo|sucesso do cliente|exito del cliente)",
            r"\brelatiebeheer",
            r"\bresponsable (?:des |du |de l )?(?:produits?|projets?|developpement)\b",
            r"\bjef[ea] de producto\b|\bchef de produit\b",
            r"コミュニティ|アカウントマネ|カスタマーサクセスマネ|プロダクトマネ|プロジェクトマネ|主任|担当",
        ),
    ),
    (
        "manager",
        (
            r"manager(?:in)?\b|\bmgr\b|\bgestor[a]?\b|\bgerent[ea]\b|\bjef[ea]\b|\bchefe\b",
            r"\bchef(?:fe| fe)? (?:de|des|du|d)\b|\w{3,}chef\b",
            r"(?:groeps|afdelings|ploeg|bedrijfs|vestigings|filiaal|winkel)leider\b"
            r"|スーパーバイザー",
            IN_CHARGE,
            r"\bsupervis(?:or|eur|ora|ore)\b|\bforeman\b|controller\b|\bcontrollore\b"
            r"|\bcontrolador[a]?\b",
            r"\brrh\b|マネージャー|マネジャー|課長|所長|係長|店長|经理|主管",
        ),
    ),
)
