"""Department from a folded job title: an ordered (value, patterns) table, first match wins.

The words shared with the seniority rules and the conventions live in ``title_rules``.
"""

from __future__ import annotations

from segmentation.enrich.title_rules import (
    COMPANY_HEADS,
    OWNERS,
)

# Departments. Ordered so that the specific beats the general: "Product Marketing" is
# marketing before "product" is product, "Sales Engineer" is sales before "engineer"
# is engineering, "IT Support" is IT before "support" is customer success.
DEPARTMENT_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # A chief's department is the function the abbreviation names, whatever else the title
    # says; the function rows below need not repeat the abbreviations.
    ("finance", (r"\bcfo\b",)),
    ("engineering", (r"\bcto\b",)),
    ("it", (r"\bcio\b|\bciso\b",)),
    ("marketing", (r"\bcmo\b",)),
    ("sales", (r"\bcro\b",)),
    ("operations", (r"\bcoo\b",)),
    ("hr", (r"\bchro\b",)),
    # A Japanese branch office (営業所) and its drivers are operations, before 営業 is sales.
    ("operations", (r"営業所|ドライバー|運転手",)),
    # Whole titles that name the company's head; "administrador" would otherwise be "admin".
    (
        "executive",
        (
            r"^administrador[a]?$|^ad$|\badministrador[a]? executiv|aufsichtsrat",
            r"\b(?:conselho|consiglio|consejo|conseil) d[aei]? ?(?:l )?a?(?:dministra|mministra)",
        ),
    ),
    # A statutory auditor ("revisore legale") is finance, not legal; a Brazilian account
    # manager for companies ("pessoa jurídica") is sales.
    (
        "finance",
        (
            r"\brevisor[ei]?\b|\brevisore\b|\bcontas a (?:pagar|receber)\b|\bcuentas (?:por|a) "
            r"(?:pagar|cobrar)\b",
        ),
    ),
    (
        "sales",
        (
            r"\b(?:gerente|gestor[a]?|executiv[oa]|consultor[a]?) de contas\b",
            r"\bpessoa (?:fisica|juridica)\b",
        ),
    ),
    (
        "legal",
        (
            r"\blegal\b|\bcounsel\b|\blawyer\b|\battorney\b|\bparalegal\b|\bcompliance\b",
            r"jurist|\bjuridi|\bgiurid|\bgiurist|\babogad[oa]\b|\bavocat|\bavvocat|\badvogad",
            r"\badvocaat|\brechts|\banwalt|\banwaltin|\bjustiziar|\bprocurador[a]?\b|\blaw\b",
            r"\banti ?corru|\blegale\b|\bdireito\b|\bdiritto\b|\bderecho\b|\bdroit\b",
            r"\bconsejer[oa] general\b|\bcumplimiento\b|\bconformit|\bregulator",
            r"\bsyndikus\b|\bnotar|\bgc\b|\bclo\b|\bprivacy\b|\bdata protection\b",
            r"\bprotezione dei dati\b|\bgegevensbescherming\b",
            r"法務|法务|弁護士|司法書士|知財|知的財産|コンプライアンス",
        ),
    ),
    (
        "hr",
        (
            r"\bhr\b|\bhrbp\b|\bhu\w*man resources?\b|\bpeople\b|\btalent\b|\brecruit|\brecrut",
            r"\bpayroll\b|\bcompensation\b|\bbenefits\b|\blearning and development\b",
            r"\bressources humaines\b|\brh\b|\brrhh\b|\brrh\b|\blearning\b|\bdrh\b",
            r"\brecursos humanos\b",
            r"\bpersonal(?:leiter|referent|abteilung|wesen|entwicklung|chef|sachbearbeiter|direkt)",
            r"\bcandidat",
            r"\brisorse umane\b|\bheadhunter\b|\bcacciatore di teste\b|\b(?:del|di|al) personale\b",
            r"\bpersonal(?:$| und\b)",
            r"\b(?:leiter(?:in)?|leitung|referent(?:in)?|bereich) personal\b",
            r"arbeitsdirekt|\bpersoneel|\bpessoal\b|\bpersonnel\b|\bseleccion de personal\b",
            r"\bselecao\b",
            r"\bwerving\b|\bassunzion|\beinstellung|\bformazione\b|\bformacao\b|\bopleidings",
            r"\btraining\b|\bpaghe\b|\bsalari|\blohn|\bgehalt|\blabou?r (?:relations|officer)\b",
            r"\bselezionat|\bpessoas\b|\bpersonas\b|\bgestion humana\b|\bcapital humano\b",
            r"\btalento|\baprendizaje\b",
            r"\brelations humaines\b|\brelaciones humanas\b",
            r"人事|採用|労務|人材|エンプロイー|従業員|人力资源",
        ),
    ),
    (
        "finance",
        (
            r"\baccounts? (?:payable|receivable)\b|\baccounting\b|\baccountant\b|\bbookkeep",
            r"\bcomptab|\bcontab|\bcontador[a]?\b|\bbuchhalt|\bboekhoud",
            r"\b(?:mercados?|mercati|marches) financ|\bfinancial markets\b|\bir\b",
            r"\bactuar|\battuari",
            r"\bfiscal|\bsteuer|\bbelasting|\bfattur|\bfatur|\bfactur|\brechnung|\bcommercialist",
            # The head of "administration" in Italy and the Netherlands runs the books.
            r"\b(?:hoofd|responsabile|capo|direttore|directeur) (?:administratie|amministra)",
            r"\binvestor|\binvestitor|\binvestidor|\binvestisseur|\binversor",
            r"経理|財務|会計|税理士|税務|監査",
        ),
    ),
    # Presales is sales before "support" is customer success and "TIC" is IT.
    (
        "sales",
        (
            r"\bpre ?(?:sales?|venda|vendita|venta|vente)\b|\bpresales?\b|\bavant vente\b",
            r"vorverkauf|\bpreventa\b|\bbusiness ?develop",
        ),
    ),
    # User-interface design and usability are product before "engineer" and "TIC".
    (
        "product",
        (
            r"\bux\b|\bui\b|\biu\b|\buser interface|\binterfac\w* (?:\w+ )?(?:utente|utilizador"
            r"|usuario|utilisateur)\b|\busabili|\bsemplicita di utilizzo\b",
        ),
    ),
    # Testing, programming, data warehouses and technical direction are engineering before
    # "IT" ("Analista de testes de TIC"), "warehouse" and "product" read them otherwise.
    (
        "engineering",
        (
            r"\btest(?:s|es|er|ing|analist|analyst)?\b|\bdata ?warehouse\b",
            r"\bpython\b|\bjava(?:script)?\b|\bcomputing\b|\bsoftware (?:engineer|developer)",
            r"\bproduct engineering\b|\bengineering manager\b",
            r"\b(?:director|diretor|direttore)[a]? tecnic[oa]\b",
            r"\bcoord(?:inador|enador|inatore)[a]? tecnic",
            r"\bdirection technique\b|\btechnische[r]? (?:direktor|leiter)",
            r"\bconcept(?:eur|rice) informatique\b|\bprogramm(?:er|eur|at|ier|ing)|\bprogramador"
            r"|developer"
            r"|\bsviluppat|\bontwikkelaar|\bdesenvolvedor|\bdesarrollador",
        ),
    ),
    (
        "it",
        (
            r"\bit (?:support|help ?desk|service)|\bhelp ?desk\b|\bservice ?desk|\bdesktop",
            r"^(?:senior |junior )?support technician|\b(?:pc|computer|ict) support",
            r"\bsuporte (?:de )?(?:ti|tecnico|informatic|n[1-3])\b",
            r"\bdes si\b|\bsystemes d information\b|\binformationssicherheit|\binfrastrukt",
            r"\b(?:analista|tecnico) de suporte\b",
            r"\bseguranca da informacao\b|\bseguridad de la informacion\b|\binformatiebe",
            r"\bsecurite de l information\b|\bsicurezza delle informazioni\b|\bdx\b",
            r"デジタルトランスフォーメーション",
            r"\bwindows\b|\blinux\b|\bunix\b|\bsap\b|\bfunctioneel beheer|\bapplicatiebeheer",
            r"ヘルプデスク|社内 ?se\b",
        ),
    ),
    (
        "customer_success",
        (
            r"\bcustomer (?:success|support|service|care|experience|happiness|cent(?:re|er))\b",
            r"\bchief customer\b",
            r"\bclient (?:success|services?|support|relation)|\bcsm\b|\bcsr\b|\bcx\b|\btam\b",
            r"\btechnical account manager\b|\bsupport\b|\bonboarding\b",
            r"\bservice clients?\b|\bkundenservice\b|\bkundenbetreuung\b|\bkundendienst\b",
            r"\batencion al cliente\b|\bsucesso do cliente\b|\bexito del cliente\b",
            r"\bservizio client|\bassistenza (?:ai |dei |alla )?client|\bapoio ao cliente\b",
            r"\bsupporto client",
            r"\binformac\w* (?:ao |al )?cliente|\binformazion\w*(?: e all assistenza)? dei client",
            r"\bcentro de contacto\b|\bklantrelatie|\batendimento\b|\bcall ?cent|\bcallcent",
            r"\bcontact ?cent|\bcontactcent",
            r"\bcentro de llamadas\b|\bcentre d appels\b|\bcentro telefonico\b|\btelefonista\b",
            r"\bteleoperador",
            r"\bklantenservice|\bklantencontact|\bklant(?:en)?advis|\bklantbeleving|\bkunden",
            r"\bexperiencia do cliente\b|\bgastrelatie|\bsac\b",
            r"カスタマー|コールセンター|お客様|顧客|\bcs ?(?:本部|部|課|室|チーム)|客服",
        ),
    ),
    (
        "marketing",
        (
            r"\bproduct marketing\b|\bpmm\b|\bmarketing op(?:eration)?s\b|\bmops\b",
            r"\bredes sociai?s\b|\bredes sociales\b|\bsocial media\b",
        ),
    ),
    ("operations", (r"\brevenue operations\b|\brev ?ops\b",)),
    (
        "sales",
        (
            r"\bsales(?:manager|wom[ae]n|m[ae]n|person|people)?\b|\bsale\b|\bsdr\b|\bbdr\b"
            r"|\bae\b|\bbdm\b|\bchief revenue\b|\brevenues?\b",
            r"\baccount (?:exec|executive|manager|director|lead|represent)|\bacct exec",
            r"\baccountmanager",
            r"\bkey account|\bbusiness ?develop|\bbiz ?dev\b|\bterritory\b|\binside sales\b",
            r"\bchannel\b|\bpartnerships?\b|\balliances?\b",
            r"\bsolutions? (?:consultant|engineer)\b|\bsales ?(?:rep|representative)\b",
            r"\bpartner (?:manager|account|sales|development)\b",
            r"\bvendedor[a]?\b|\bvende(?:ur|use)\b|\bvenditor[ei]\b|\bvendit|\bvenda",
            r"\bejecutivo de cuentas\b|\bexecutivo de contas\b|\bcharge d affaires\b",
            r"\bingenieur d affaires\b|\bingeniero de ventas\b",
            r"vertrieb|verkauf|\bventas\b|\bventes?\b|\bverkoop|\bverkoper|\bvertegenwoordig",
            r"\bcommercial|\bcomercial|\bcommerciale\b|\bcommercieel\b|\bhandels(?:agent|vertret)",
            r"\brappresentant[ei] (?:di commercio|tecnico)|\brepresentante (?:comercial|de vendas)",
            r"\bagente (?:di commercio|comercial|de vendas|de ventas|immobiliare|inmobiliari"
            r"|de seguros)|\b(?:insurance|real estate|sales|leasing) agent\b",
            r"\basesor[a]? (?:inmobiliari|comercial)",
            r"\bgest(?:or[a]?|ao) de contas\b",
            r"\bdesenvolvimento de (?:novos )?neg|\bsviluppo commerciale|\bdesarrollo de negocio",
            r"\bdeveloppement (?:de l )?(?:activite|commercial)|geschaftsentwicklung",
            r"^mr$|\bbuitendienst|aussendienst|\bgebiets(?:leit|beauftragt|manag|verkauf)"
            r"|\bexport|\brelatiebeheer|営業|销售|セールス|アカウント|販売|医薬情報担当",
        ),
    ),
    (
        "marketing",
        (
            r"marketing|\bmktg\b|\bgrowth\b|\bdemand gen|\bseo\b|\bsem\b|\bsea\b|\bppc\b",
            r"\bcontent\b|\bbrand(?:\b|manag)|\bcommunications?\b|\bcomms\b|\bpr\b",
            r"\bpublic relations\b",
            r"\bsocial media\b|\bcommunity\b|\bevents?\b|\bcopywrit|\bcampaigns?\b",
            r"\badvertising\b|\bmercadeo\b|\bmercadotecnia\b|\bmedia\b|content(?:manag|\b)",
            r"(?:\b|unternehmens|presse|marken|interne|externe)kommunikation",
            r"\bmarketeer|\bmercados?\b|\bmercato\b|\bmarkt(?:onderzo|forsch|analy)",
            r"\bmarket (?:development|research|intelligence)",
            r"\bpubblicit|\bpublicit|\bpublicidad|\breclame|\bwerbe|\badvertentie|\bpromotion",
            r"\bmarchio\b|\bmarca\b|\bmarque\b|\bmerk\b|\bcomunica|\bcommunica|\bpersdienst",
            r"\bpresse|\bimprensa\b|\bprensa\b|\brelazioni pubbliche\b|\brelacoes publicas\b",
            r"\brelaciones publicas\b|\brelations publiques\b|\bpublicrelations",
            r"\bcreativ|\bcriativ|\bcreatief\b|\bkreativ|\bmerchandis",
            r"\bstampa\b|\bannouncer\b|アナウンサー|コミュニティ|\bwriter\b|marktmanag",
            r"\brelazioni esterne\b|\brelations exterieures\b",
            r"\brelaciones externas\b|\brelacoes externas\b|\bexternal relations\b",
            r"\bwoordvoer|\bsprecher|\bportavo(?:z|ce)\b|\bporta voz\b|\bspokes",
            r"マーケ|広報|宣伝|広告|市场",
        ),
    ),
    ("sales", (r"\be ?commerce\b",)),
    # People named only as the company's clients are customer success.
    ("customer_success", (r"\bclient[ei]\b|\bclientes?\b|\bclientela\b|\bclientele\b",)),
    (
        "finance",
        (
            r"\bfinanc|\bcontroll|\bcontroleu|\bcontrolad|\bcomptroller\b|\btreasur"
            r"|\btax\b|\baudit",
            r"controll|\bfp ?a\b|\binvestor relations\b|\bfinanz|\bfinancas\b|\bfinanceir[oa]\b",
            r"\bcredit|krediet|\bkredit|\bcollections? (?:agent|specialist|analyst|manager)\b",
            r"\briesgos?\b|\brisk\b|\brischi\b|\briscos?\b|\brisque",
            r"\btesorer|\btresorer|\bbilling\b|\bdaf\b|\bkaufm(?:a|ae)nnisch",
            r"财务|会计",
        ),
    ),
    (
        "operations",
        (
            r"\bproduction\b|\bmanufacturing\b|\bplant\b|\bfactory\b|\bstabiliment|\bfabbrica\b",
            r"\bquality (?:control|manager|management|inspector)\b",
            r"\bsupply chain\b|\blogisti|\bwarehouse\b|\bfulfil?ment\b|\bproduktion",
            r"\bstore\b|\bbranch\b|\bshop\b|\brestaurant\b|\bmarktleit|\bfilialleit|\bloja\b",
            r"\bstandort|\bgebaude|\bkommissionier|\border ?picker|\bcnc\b|\bzerspan|\bapprovision",
            r"\bflux\b|\bbusiness continuity\b|\bobras?\b|\bcantier[ei]\b|\bchantier|\bbaustelle",
            r"\bclaims?\b|\bsinistr|\bsiniestro|\bsst\b|\bhealth (?:and|&) safety\b|\bouvri",
            r"\bseguranca do trabalho\b|\bseguridad y salud\b|\barbeitssicherheit|\bmerci\b",
            r"\bricezione\b|\brifiuti\b|\bwaste\b|\bresiduos\b|\bdechets\b|\bafval|\boficina\b",
            r"\b(?:du|de|del|do) (?:site|sitio)\b|\bsite (?:manager|director|lead(?:er)?|head)\b",
            r"\btaller(?:es)?\b|\bwerkstatt|\bedificio|\b(?:directeur|directrice|director[a]?"
            r"|diretor[a]?|direttore|direttrice|responsable|responsabile) industri",
            r"\bhub\b|supermar|\bbedrijfsleid|\bcommess[oa]\b|rayon(?:manager|leider|hoofd)",
            r"\btienda\b|\bnegozio\b|\bmagasin\b|\brayon\b|\bqualit|\bqualidade\b|\bcalidad\b",
            r"\bdatenerfassung|\bdata entry\b|\bhse\b|\bqhse\b|\bprevencion\b|\bexploitation\b",
            r"\bplann(?:ing|er)\b|\bcommande publique\b|\bkwaliteit|\bbatiment|\bentretien\b",
            r"\bback ?office\b|\baanbested|\bbedrijfsvoering",
            # Blue-collar work in plants, warehouses, shops and buildings.
            r"\boperai[oa]\b|\bpeon\b|\balbanil|\bfaxineir|\blimpeza\b|\brepositor|\bcaixa\b",
            r"\bcajer[oa]\b|\bcassi(?:er|ere|era)\b|\bmanutentor|\bmontag|\bassemblage|\bforklift",
            r"\bheftruck|\bcarrellist|\bmagazzinier|\bdriver\b|\bchauffeur|\bmotorista\b",
            r"\bmagazzin|\barmazem|magazijn|\bcategor(?:y|ies|ia|ias|ie|ieen)\b|\bdeposito\b",
            r"\bentrepot|\balmacen|\blager",
            r"\bapprovvigion|\babastecimento\b|\bcatena di fornitura\b|\bcadena de suministro\b",
            r"\bcadeia (?:de abastecimento|logistica|de distribuicao)\b",
            r"\bbuilding\b|\bmaintenance\b|\bmanutenzione\b|\bmanutencao\b|\bonderhoud",
            r"\bgebouwbeheer|\bgebaudemanagement|\binstalacoes\b|\binstalaciones\b",
            r"\bmaritim|\bmarittim|\bnavegacao\b|\bscheep|\brederij\b|\bbuques\b|\bseefracht"
            r"|\bfracht|\bdisponent|\bships?\b|\bshipping\b|\bspedizion",
            r"製造|生産|品質|工場|物流|店長|支店|受付|運転|管理本部",
        ),
    ),
    (
        "product",
        (
            r"\bproducts?\b|\bproduit\b|\bproducto\b|\bprodukt\b|\bprodotto\b|\bproduto\b",
            r"\bprodott[oi]\b|\bprodutos\b|\bproductos\b|\bproduits\b|\bprodukte\b|\bproducten\b",
            r"\bproduktmanag|\bproductmanag|\bproduct ?owner\b|\bpm\b|\bcpo\b",
            r"\bux\b|\bui\b|\buser experience\b|\bdesign|\bdesigner\b|\bdisen(?:ador|adora|o)\b",
            r"プロダクト|製品|デザイナー|产品",
        ),
    ),
    (
        "it",
        (
            r"\bit\b|\bchief information\b|\binformation technology\b",
            r"\binformation security\b|\binfosec\b|\bcyber ?security\b|\bsecurity\b",
            r"\bsys ?admin\b|\bsystems? admin|\bnetwork|\binfrastructure\b|\bdesktop\b",
            r"\bti\b|\binformatique\b|\bdsi\b|\binformatic|\binformatik\b|\bsistemas\b",
            r"\bedv\b|\btecnologias? (?:da|de la) informac|\btecnologie dell informazione\b",
            r"\btic\b|\bict\b|\bikt\b|\bsistemist|\bsysteembeheer|\bnetwerk|\bnetzwerk",
            r"\brete\b|\breti\b|\bsistemi\b|\bredes\b|\breseaux?\b",
            r"\bdba\b|\bdatabase|\bbases? de dados\b",
            r"情報|ネットワーク|インフラ|セキュリティ|信息",
        ),
    ),
    (
        "engineering",
        (
            r"engineer|\bengineering\b|ingenieur|\bingenier(?:[oa]|ia)\b|\bengenharia\b",
            r"\bengenheir[oa]\b",
            r"\bingegner|developer|\bdevelopment\b|\bdev\b|\bdevops\b|\bsre\b|\bswe\b",
            r"\bsde\b|software|\bprogramm(?:er|eur|at|ier|ing)|\bprogramador|\bcoder\b|\barchitect",
            r"\bdata\b|\bmachine learning\b|\bml\b|\bai\b|\bqa\b|\bquality assurance\b",
            r"\btester\b|\bscrum\b|\bchief technology\b|\btechnolog|\btech\b",
            r"entwickl|\bdeveloppeu|\bdesarrollador|\bdesenvolvedor|\bsviluppat",
            r"\bontwikkelaar|softwareontwikkel",
            r"\baplicacoes\b|\bapplicativ|\bdati\b|\bdados\b|\bdatos\b|\bdaten|\bdonnees\b",
            r"\bgegevens|\bwerktuigbouw|\belettronic|\beletronic|\belectronic|\belektroni",
            r"\bprogettist|\belektrotechn|\bricerca\b|\bpesquisa\b|\binvestigaca?o\b",
            r"\binvestigacion\b",
            r"\bonderzoek|\bforschung|\brecherche\b|\bscientifi|\bcientifi|\bcientista\b",
            r"\blaborat|\btecnolog|\btechnisch|\btechnique\b|\btechnical officer\b",
            r"\brd\b|\br d\b|\bresearch\b|\bscientist\b",
            r"エンジニア|テック|テクニカル|フロントエンド|バックエンド|フルスタック|ソフトウェア|開発|技術|プログラマ|サイエンティスト|データ|研究|工程师|研发",
        ),
    ),
    (
        "operations",
        (
            r"\boperations?\b|\bops\b|\bchief operating\b|\bprocurement\b",
            r"\bpurchas|\bbuyer\b|einkauf|eink(?:a|ae)ufer|\bachats?\b|\bacheteu",
            r"\bcompras?\b|\bcomprador[a]?\b|\bacquisti\b|inkoop|inkoper",
            r"\bfacilit|\boffice\b|\badmin|\bassistant[e]?\b|\breceptionist\b",
            r"assistent|\bassistenz",
            r"\bproje[ck]t|\bprojets?\b|\bproyecto|\bprojetos?\b|\bprogett[oi]\b|\bprojectleider",
            r"\bamministrativ",
            r"\bprogram(?:me)? manager\b|\bpmo\b|\bbusiness ?analy|\bbusiness operations\b",
            r"\bstrateg|\bestrateg|\bprocess\b|\boperaciones\b|\boperacoes\b|\bbetrieb",
            r"\bsegret|\bsecretar|\bsecretaire\b|\bsekret|\breception|\brecepc|\brececion",
            r"\bmecanico\b|\bmeccanico\b|\bmechanic\b|\bmechaniker|\bmantenimiento\b|\bwartung",
            r"\bricevimento\b|\boperativ[oa]\b|\boperacional\b|\boperationeel\b|\boperationnel",
            r"\bufficio\b|\bescritorio\b|\bkantoor|\bbureau\b|\borganizacao e metodos\b",
            r"\banalista di business\b|\bbusinessanalist\b",
            r"購買|調達|総務|事務|秘書|経営企画|コーポレート|管理部|執行責任者|プロジェクト",
            r"采购|运营",
        ),
    ),
    (
        "executive",
        (
            r"\bchief\b|\bceo\b|\bpresident|\bvice ?pres|\bvicepres|\bmanaging director\b|^md$"
            r"|^md |\bpartner\b",
            r"\bgeneral manager\b|\bgm\b|\bexecutive director\b|\bchair|\bboard\b",
            r"\bcountry manager\b|\bcountry director\b|\bprokurist",
            OWNERS,
            COMPANY_HEADS,
            r"^directeur$|\bcondirett|最高経営責任者|副社長|専務|常務|執行役員|本部長|事業部長",
        ),
    ),
)
