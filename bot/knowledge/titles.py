"""Job titles (English, French, German, Spanish) into level, function and budget authority.

Deterministic rules, ordered so the classic traps resolve the way a sales leader would:
"Assistant to the CFO" is junior, "Assistant Vice President" is a VP, "Head of ..." a director,
"Chief of Staff" a director without budget. Every result says which rule decided it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from bot.knowledge.accounts import fold

LEVELS = ("executive", "vp", "director", "manager", "individual", "junior", "unknown")
FUNCTIONS = ("finance", "operations", "supply_chain", "procurement", "it", "data", "security", "engineering", "sales",
             "marketing", "customer_success", "hr", "legal", "risk", "facilities", "general_management", "other")
BUYING_FUNCTIONS = {"finance", "operations", "supply_chain", "it", "procurement", "general_management"}
SENIORITY = {level: rank for rank, level in enumerate(("junior", "individual", "manager", "director", "vp", "executive"))}


@dataclass(frozen=True)
class TitleInfo:
    title: str
    level: str
    function: str
    budget_authority: bool
    why: str

    @property
    def seniority(self) -> int:
        """Higher is more senior; unknown sorts with individuals."""
        return SENIORITY.get(self.level, 1)

    @property
    def senior(self) -> bool:
        return self.level in ("executive", "vp", "director")


# Abbreviations and spelling variants, applied to the folded title word by word.
_EXPAND = {
    "sr": "senior", "snr": "senior", "jr": "junior", "jnr": "junior", "dir": "director", "mgr": "manager",
    "mngr": "manager", "asst": "assistant", "assoc": "associate", "exec": "executive", "ops": "operations",
    "mgmt": "management", "admin": "administrator", "hd": "head", "intl": "international", "acct": "accounting",
    "purch": "purchasing", "proc": "procurement", "fin": "finance", "eng": "engineering", "engr": "engineer",
    "coord": "coordinator", "rep": "representative", "spec": "specialist", "tech": "technology",
}

_CXO = {
    "ceo": "general_management", "cfo": "finance", "coo": "operations", "cio": "it", "cto": "it", "cdo": "data",
    "ciso": "security", "rssi": "security", "cpo": "procurement", "cpro": "procurement", "chro": "hr", "cpeo": "hr",
    "cmo": "marketing", "cro": "sales", "cso": "sales", "cco": "sales", "cao": "finance", "cxo": "general_management",
    "pdg": "general_management", "dg": "general_management", "daf": "finance", "raf": "finance", "dsi": "it",
    "drh": "hr", "gf": "general_management", "md": "general_management", "gm": "general_management",
    "clo": "legal", "gc": "legal", "hse": "risk", "ehs": "risk", "qhse": "risk",
}

# Title words (folded: lower case, no accents) -> function, in four languages. The function named first in a
# title wins ("VP Finance & Operations" is finance); the seller profile's `functions` are looked for before these.
_FUNCTION_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("procurement", ("procurement", "purchas", "sourcing", "buyer", "buying", "supplier", "vendor manag", "achat",
                     "acheteu", "einkauf", "einkaeufer", "einkaufer", "beschaffung", "compras", "comprador",
                     "category manag", "commodity manag", "strategic sourc")),
    ("supply_chain", ("supply chain", "supply planning", "logistic", "logistik", "logistique", "logistica", "warehouse",
                      "warehousing", "distribution cent", "dc ", "fulfil", "inventory", "inventario", "stocks",
                      "stock control", "materials", "material manag", "materialwirtschaft", "materiales", "transport",
                      "fleet", "fuhrpark", "flotte", "flota", "customs", "zoll", "douane", "aduana", "traffic",
                      "shipping", "versand", "expedition", "lager", "entrepot", "magasinier", "almacen",
                      "cadena de suministro", "demand plann", "planning", "planner", "planificac", "s&op", "s and op",
                      "disposition", "disponent", "approvisionnement", "aprovisionamiento", "ordonnancement",
                      "dispatch", "freight", "fracht", "forklift", "cariste", "trucking", "truck", "lkw", "camion",
                      "import", "export", "spedition", "trafico")),
    ("finance", ("financ", "finanz", "fp and a", "shared service", "cfo", "accounting", "accountant", "accounts",
                 "controll", "treasur", "fp&a", "fp a", "fpa", "tax", "audit", "payable", "contador", "costos",
                 "costing", "cost account", "receivable", "billing", "credit", "comptab", "tresor",
                 "controle de gestion", "buchhalt", "rechnungswesen", "kaufmann", "kaufmaenn", "kaufmannisch", "contab",
                 "tesor", "fiscal", "steuer", "ap ", "ar ", "invoice", "payroll", "revenue account", "bookkeep")),
    ("security", ("security", "cyber", "ciso", "rssi", "securite", "surete", "sicherheit", "seguridad", "werkschutz",
                  "infosec", "soc analyst", "pentest")),
    ("data", ("data", "analytics", "business intelligence", "bi ", "datenanaly", "donnees", "datos", "machine learning",
              "statistic", "statistik", "estadistic", "data scien", "dataset", "ai ")),
    ("it", ("information", "it ", " it", "ti", "technolog", "systems", "system", "infrastructure", "digital",
            "network", "cloud", "erp", "sap", "application", "informatique", "informatik", "sistemas", "informatica",
            "tecnologia", "dsi", "cio", "cto", "architect", "helpdesk", "help desk", "edv", "sysadmin",
            "systemadministr")),
    ("risk", ("risk", "risque", "risiko", "riesgo", "compliance", "conformite", "cumplimiento", "internal control",
              "controle interne", "governance", "regulatory", "reglementaire", "regulatori", "aml", "kyc", "hse",
              "ehs", "qhse", "health and safety", "safety", "arbeitssicherheit", "prevencion")),
    ("legal", ("legal", "counsel", "attorney", "lawyer", "paralegal", "contracts manag", "juridique", "juriste",
               "avocat", "recht", "jurist", "syndikus", "abogad", "juridic", "notar", "company secretary", "litigation",
               "notaire", "anwalt", "anwaeltin")),
    ("facilities", ("facilit", "real estate", "workplace", "building", "immobilier", "services generaux",
                    "haustechnik", "gebaude", "gebaeude", "inmobiliari", "servicios generales", "property manag",
                    "hausmeister", "janitor", "custodian", "concierge")),
    ("customer_success", ("customer success", "customer service", "customer support", "customer care",
                          "customer experience", "client services", "client service", "service client",
                          "relation client", "kundenservice", "kundendienst", "kundenbetreuung", "atencion al cliente",
                          "servicio al cliente", "sav", "support")),
    ("operations", ("operation", "plant", "production", "manufactur", "quality", "qualite", "qualitat", "qualitaet",
                    "calidad", "maintenance", "instandhaltung", "mantenimiento", "facility", "site", "usine",
                    "exploitation", "betrieb", "produktion", "werksleit", "werk ", "operaciones", "produccion",
                    "planta", "fabrica", "fabrication", "atelier", "coo", "shift", "schicht", "turno", "field ",
                    "rig", "drilling", "mining", "mine", "refinery", "roustabout", "floorhand", "roughneck", "foreman",
                    "journeyman", "lineman", "power plant", "utility", "utilities", "assembly", "montage", "montaje")),
    ("hr", ("human resources", "hr", "rrhh", "paie", "lohn", "people", "talent", "recruit", "personnel", "personal",
            "rh", "ressources humaines", "recursos humanos", "chro", "learning and development", "formation",
            "ausbildung", "training", "nomina", "workforce")),
    ("marketing", ("marketing", "brand", "communication", "content", "demand gen", "growth", "seo", "social media",
                   "events", "pr ", "cmo", "mercadotecnia", "kommunikation", "digital market", "presse", "prensa",
                   "public relations")),
    ("sales", ("sales", "revenue", "account executive", "account manag", "business development", "commercial",
               "key account", "partnership", "vente", "commerc", "vertrieb", "verkauf", "ventas", "comercial", "cro",
               "bdr", "sdr", "pre sales", "presales", "charge d affaires", "inside sales", "territory")),
    ("engineering", ("software", "developer", "devops", "scrum", "entwickler", "developpeu", "desarrollador",
                     "programmer", "programmier", "engineer", "r&d", "r and d", "research and development", "ingenieur", "ingeniero", "ingenieria",
                     "entwicklung", "technique", "technik", "mechanical", "electrical", "design", "product manag",
                     "bureau d etudes", "konstruktion", "i+d", "innovation")),
    ("general_management", ("general management", "managing director", "general manager", "ceo", "president",
                            "owner", "proprietor", "founder", "chief of staff", "geschaftsfuhr", "geschaeftsfuehr",
                            "direction generale", "directeur general", "directrice generale", "director general",
                            "directora general", "gerente general", "consejero delegado", "chairman", "chair",
                            "board", "inhaber", "grunder", "fundador", "fondateur", "gerant", "vorstand", "strategy",
                            "strateg", "mayor", "maire", "burgermeister", "buergermeister", "alcalde")),
)

# (pattern, level, why): first match wins, so traps come before the general rules.
_RULES: tuple[tuple[str, str, str], ...] = (
    # -- traps around "assistant", "chief", "executive", "owner"
    (r"\b(product|process|business|data|service|system|content|budget|account|solution) owner\b", "individual",
     "an owner of a product or process, not of the company"),
    (r"\b(assistant|associate|asst) vice[ -]?president|\bavp\b", "vp", "an assistant vice president is a VP"),
    (r"\bs office (manager|coordinator|administrator|lead)\b", "manager", "runs an executive's office"),
    (r"\b(secretaire generale?|secretari[oa] general|general counsel|chief legal|company secretary|"
     r"generalsekretar\w*)\b", "executive", "a senior officer of the company"),
    (r"\bassistant (general counsel|controller|comptroller|treasurer|superintendent|(\w+ )?manager)\b", "manager",
     "an assistant manager or controller manages"),
    (r"^(charge|chargee|attache|attachee) (de|d)\b|^referent\w*\b|^conseill\w* (du|de la|aupres)\b", "individual",
     "a staff role beside an executive, without budget of its own"),
    (r"^(pa|ea)\b.*\bto\b|\w*(assistenz|sekretar\w*|sekretaer\w*)\b", "junior", "assistant roles carry no buying power"),
    (r"\bcontroller m w d\b", "individual", "a German 'Controller' is an analyst"),
    (r"\b(chief of staff|chef de cabinet|jefe de gabinete|jefa de gabinete)\b", "director", "chief of staff: senior access, no budget of their own"),
    (r"\b(assistant|assistante|asistente|assistent|assistentin|secretary|secretaire|secretaria|sekretar\w*)\b"
     r".*\b(to|of|de|del|der|des|du|a la|al)\b.*\b(ceo|cfo|coo|cio|cto|chief|president|director|directeur|vp|"
     r"gf|geschaftsfuhrung|geschaeftsfuehrung|vorstand|direction|direccion|gerencia|md|owner|pdg|dg)\b",
     "junior", "an assistant to an executive supports, and has no budget"),
    (r"\b(executive|personal|administrative|office|team|sales|marketing|purchasing|procurement|accounting|hr|"
     r"project|research|teaching|legal) assistant\b", "junior", "assistant roles carry no buying power"),
    (r"\bassistant(e)? (de direction|administrative?|commercial(e)?|comptable|achats?)\b", "junior",
     "assistant roles carry no buying power"),
    (r"\bassistant (director|head)\b", "director", "an assistant director is on the director level"),
    (r"\bassistant (general )?manager\b", "manager", "an assistant manager manages"),
    (r"\b(phd|ph d|doctoral|doctorant\w*|doktorand\w*|doctorand\w*|postdoc\w*|post doc\w*)\b", "individual",
     "a doctoral or postdoctoral researcher"),
    (r"\b(intern|internship|stagiaire|stage|praktikant|praktikantin|becario|becaria|trainee|apprentice|"
     r"apprenti|apprentie|alternant|alternante|alternance|auszubildende|auszubildender|azubi|werkstudent|"
     r"werkstudentin|working student|student|etudiant|etudiante|estudiante|graduate trainee|en practicas|"
     r"practicas|volontariat|vie|aprendiz|practicante|pasante|praktikum|auxiliar|duale studentin|dualer student|studentin|studierende\w*)\b|"
     r"\b\w*student(in)?\b", "junior", "intern, trainee, apprentice or student"),
    (r"^(assistant|assistante|asistente|assistent|assistentin|secretary|secretaire|secretaria)\b|"
     r"\b(assistant|assistante|asistente|assistentin|assistent)$", "junior", "assistant roles carry no buying power"),
    (r"\bjunior\b", "junior", "junior title"),
    # -- executives
    (r"\b(vice|deputy)[ -]?(president|presidente|presidente)\b", "vp", "vice president"),
    (r"\b(svp|evp|vp|vps|rvp|gvp)\b|\bvice ?president\w*|\bviz\w*pr(a|ae)sident\w*|\bgeneralbevollmacht\w*",
     "vp", "vice president"),
    (r"\bchief\b.*\bofficer\b|\bchief (executive|financial|operating|information|technology|procurement|"
     r"purchasing|revenue|marketing|people|human|digital|data|commercial|supply chain|security)\b",
     "executive", "C-level"),
    (r"\b(ceo|cfo|coo|cio|cto|cdo|ciso|cpo|cpro|chro|cpeo|cmo|cro|cco|cao|cxo|pdg|daf|dsi|drh)\b", "executive", "C-level"),
    (r"\b(division|section|branch|department|unit|bureau|service|station|fire|police|battalion|crew|shift) chief\b|"
     r"\bchief of (?!staff)\w+|\bchief (engineer|pilot|nurse|physician|accountant|medical|surgeon|steward|mate)\b", "director", "chief of a unit: heads it"),
    (r"\bdg\b|\bgf\b", "executive", "general manager / managing director"),
    (r"\bboard member\b|\bmember of the board\b|\bboard director\b|\bnon executive director\b|"
     r"\bmembre du (conseil|directoire|comite de direction|comex)\b|\bmiembro del (consejo|comite de direccion)\b|"
     r"\bmitglied (der|des) (geschaftsleitung|geschaeftsleitung|vorstand\w*|aufsichtsrat\w*)\b|\baufsichtsrat\w*",
     "executive", "sits on the board or the executive committee"),
    (r"\bgerante? (de|du|d) (magasin|boutique|agence|restaurant|rayon|point de vente|sucursal|tienda)\b", "manager",
     "runs a store or branch"),
    (r"\b(co[ -]?)?(founder|fondateur|fondatrice|fundador|fundadora|grunder|gruenderin|grunderin)\b", "executive", "founder"),
    (r"\b(co[ -]?)?owner\b|\b(mit)?inhaber|\bduen[oa]\b|\bproprietaire\b|\bpropietari[oa]\b|\bgerant\b|\bgerante\b|"
     r"\bproprietor\b|\bself employed\b|\bautonom[oa]\b|\bselbst(st|ae|a)ndig\w*|\bindependant\b", "executive", "owner"),
    (r"\b(managing|executive) (director|partner)\b|\bgeneral manager\b|\bgeschaftsfuhr\w*|\bgeschaeftsfuehr\w*|"
     r"\b(directeur|directrice|director|directora) (general|generale|ejecutiv[oa])\b|\bgerente general\b|"
     r"\bconsejer[oa] delegad[oa]\b|\bvorstand\w*|\b(chairman|chairwoman|chairperson|chair of the board)\b|"
     r"\bpresident[e]? du directoire\b|\bmanaging member\b", "executive", "runs the company"),
    (r"^(president|presidente|presidenta|prasident\w*|praesident\w*)\b|\bpresident( and| &|,)|\bpresident$", "executive", "president"),
    (r"\b(directeur|directrice|director|directora) (administrati(f|ve) et |administrativ[oa] y )?(financier|financiere|financiero|financiera|"
     r"administrativ[oa] y financier[oa])\b|\bfinanzvorstand|\bfinanzdirektor\w*|\bfinanzchef\b|"
     r"\b(directeur|directrice) des systemes d information\b", "executive", "CFO/CIO by another name"),
    (r"^(managing |senior |equity |founding |name )?partner$|^partner (at|of|in|,)|\bassocie gerant\b|"
     r"\bsocio director\b|\bsocio fundador\b", "executive", "partner in the firm"),
    (r"\bbusiness partner\b", "individual", "a business partner supports a function, no budget of their own"),
    # -- managers whose German title ends in -leiter, before the directors
    (r"\b(team|gruppen|schicht|filial|projekt|bau|kolonnen|produktions?gruppen|lager|objekt)\w*(leiter(in)?|leitung)\b|"
     r"\bvorarbeiter\w*|\bmeister(in)?\b", "manager", "leads a team, shift, branch or project"),
    # -- directors
    (r"\bsub ?direct(or|ora)\b|\bsous directeur\b|\bsous directrice\b|\bprokurist\w*|\b\w+leiter(in)?\b|"
     r"\b\w+leitung\b",
     "director", "heads a department"),
    (r"\bhead\b|\b(directeur|directrice|director|directora|direktor|direktorin|dir|rssi)\b|\bchef de (service|departement)\b|"
     r"\bjef[ea] de (servicio|departamento)\b", "director",
     "director / head of a function"),
    (r"\b(bereichsleiter\w*|abteilungsleiter\w*|hauptabteilungsleiter\w*|leiter|leiterin|leitung|kaufmannischer leiter)\b",
     "director", "Leiter: heads a function"),
    (r"\b(jefe|jefa)\b(?! de (equipo|proyecto|turno|grupo))", "director", "jefe de ...: heads a function"),
    # -- a "manager" of accounts or relationships carries a portfolio, not a team
    (r"\b(key |global |strategic |national |major |named |regional |inside )?(account|accounts|relationship|portfolio|"
     r"territory|customer success|client success|community|bid|case|area sales) manager\b|"
     r"\b(gerente|responsable|chargee?) (de )?(cuentas?|grands comptes|comptes?)\b", "individual",
     "manages a portfolio of accounts, not a team"),
    # -- managers
    (r"\w*manager(in)?\b|\b(mgr|gerente|lead(?! generation| gen\b)|leader|lider|supervisor|superviseur|supervisora?|"
     r"teamleiter\w*|gruppenleiter\w*|teamlead|responsable|encargad[oa]|chef|coordinator manager|foreman|"
     r"jefe de (equipo|proyecto|turno|grupo)|jefa de (equipo|proyecto|turno|grupo)|controller|"
     r"principal consultant|superintendent)\b", "manager", "manages a team or a budget line"),
    # -- individual contributors
    (r"\b(specialist|analyst|engineer|consultant|accountant|buyer|planner|coordinator|administrator|developer|"
     r"representative|associate|officer|architect|scientist|designer|technician|advisor|adviser|agent|clerk|"
     r"executive|expert|auditor|programmer|scrum master|product owner|owner|strategist|recruiter|writer|editor|"
     r"operator|controller|sachbearbeiter\w*|einkaufer\w*|einkaeufer\w*|referent\w*|fachkraft|mitarbeiter\w*|"
     r"berater\w*|entwickler\w*|ingenieur\w*|analyst\w*|kaufmann|kauffrau|disponent\w*|buchhalter\w*|"
     r"controleur|controleuse|acheteur|acheteuse|charge|chargee|ingenieur|comptable|analyste|consultant|"
     r"technicien|technicienne|developpeur|developpeuse|gestionnaire|conseiller|conseillere|commercial|"
     r"analista|comprador|compradora|ingenier[oa]|tecnic[oa]|contable|administrativ[oa]|consultor|consultora|"
     r"especialista|desarrollador|desarrolladora|auxiliar|agente|vendedor|vendedora|asesor|asesora|"
     r"principal|staff|fellow|generalist|juriste|administrateur|administrador|administradora|approvisionneur|"
     r"coordinador\w*|contador\w*|planificador\w*|representante|ejecutiv[oa] de (cuentas|ventas)|gestionnaire)\b|"
     r"\w*(entwickler|informatiker|buchhalter|administrator|mitarbeiter|referent|sachbearbeiter|einkaufer|"
     r"einkaeufer|berater|planer|disponent)\w*", "individual", "individual contributor"),
)
# Part of every CRM file's ingest digest: when the rules change, documents that show roles re-embed.
RULES_FINGERPRINT = hashlib.sha1(repr((_RULES, _EXPAND)).encode()).hexdigest()[:8]
_COMPILED = tuple((re.compile(pattern), level, why) for pattern, level, why in _RULES)


_UNREADABLE = {"n a", "na", "none", "unknown", "other", "others", "tbd", "tba", "x", "xx", "xxx", "test", "asdf",
               "autre", "autres", "sonstiges", "sonstige", "otro", "otra", "otros", "k a", "ka", "keine angabe", "null",
               "nil", "nan", "no", "yes", "n d", "nd", "s o", "sin titulo", "unbekannt", "inconnu", "desconocido",
               "self", "me", "private", "privat", "particulier", "particular"}
# readable, but no role: retired people, a member of a network, a placeholder
_NO_ROLE = re.compile(r"^(retired|retiree|pensioner|retraite|retraitee|jubilad[oa]|pensionad[oa]|pensionista|rentner\w*|"
                      r"pensionar\w*|ruhestand|im ruhestand|linkedin member|member|membre|miembro|mitglied|"
                      r"unemployed|sans emploi|arbeitslos|desemplead[oa]|looking for \w+|open to work)$")
_OFFICE_OF = re.compile(r"\b(office|bureau|buro|oficina|stab) (of the|of|du|de la|de|des|del|der|des)"
                        r" (ceo|cfo|coo|cio|cto|chro|cmo|president|presidente|pdg|dg|daf|drh|chief \w+ officer|"
                        r"chairman|vorstand\w*|geschaftsfuhrung|geschaeftsfuehrung|direction generale|"
                        r"direccion general)\b")
_RANK = (r"(head|heads|director|directeur|directrice|directora|dean|doyen|decan[oa]|leiter|leiterin|jefe|jefa|"
         r"responsable|manager|chief|vp|vice president|provost|principal|superintendent|coordinator|coordinador\w*)")
_LEADS_WITH_RANK = re.compile(rf"^(senior |associate |assistant |deputy |interim |acting )?{_RANK}\b(?! to\b)")
_JUNIOR_AS_SUBJECT = re.compile(
    r"\b(student|students|intern|interns|internship|internships|apprentice\w*|trainee\w*|graduate|graduates|"
    r"etudiant\w*|stagiaires?|stage|alternance|estudiant\w*|becari\w*|practicas|praktik\w*|ausbildung|"
    r"studierende\w*|azubi\w*) (program\w*|recruit\w*|services?|affairs|relations|success|experience|placement\w*|"
    r"career\w*|admissions?|housing|union|life|development|engagement|support|outreach|enrollment|enrolment|"
    r"records|finance|aid|talent|hiring|ausbildung|betreuung|vie|relations)\b")


_MODIFIERS = {"senior", "junior", "associate", "assistant", "deputy", "interim", "acting", "executive", "general",
              "vice", "of", "the", "and", "adjoint", "adjointe", "stellvertretender", "stellvertretende", "adjunto",
              "adjunta", "regional", "global", "group", "principal", "abteilungsleiter", "abteilungsleiterin",
              "bereichsleiter", "bereichsleiterin", "gerente", "directora", "director", "manager", "chef"}
_RANK_WORDS = {"head", "director", "manager", "chief", "lead", "leiter", "leiterin", "jefe", "jefa", "directeur",
               "directrice", "vp", "president", "officer", "supervisor", "responsable"}


def readable(normalized: str) -> bool:
    """A title with at least one word of letters that is not a placeholder ("n/a", "Autre", "test") nor a
    status without a role ("Retired", "LinkedIn Member")."""
    return (bool(normalized) and normalized not in _UNREADABLE and bool(re.search(r"[a-z]{2}", normalized))
            and not _NO_ROLE.match(normalized))


def normalize_title(title: str) -> str:
    text = fold(title.replace("&", " and ").replace("/", " / "))
    words = [_EXPAND.get(word, word) for word in text.split()]
    return " ".join(words)


def _needle_pattern(needle: str) -> str:
    # short tokens ("it", "cio", "erp") only as whole words: "operaciones" holds "cio"
    stripped = needle.strip()
    if len(stripped) <= 4:
        return rf"\b{re.escape(stripped)}\b"
    # long stems also inside German compounds: "Kreditorenbuchhaltung"
    return re.escape(stripped) if len(stripped) >= 6 else rf"\b{re.escape(stripped)}"


_FUNCTION_PATTERNS = tuple(
    (function, re.compile("|".join(_needle_pattern(n) for n in needles))) for function, needles in _FUNCTION_WORDS
)


_CHIEF_OF = re.compile(
    r"\bchief (financial|accounting|operating|supply chain|information|technology|digital|data|analytics|security|"
    r"information security|procurement|purchasing|revenue|sales|commercial|marketing|people|human resources|legal|"
    r"risk|compliance|customer|customer success|executive) officer\b"
)
_CHIEF_FUNCTION = {
    "financial": "finance", "accounting": "finance", "operating": "operations", "supply chain": "supply_chain",
    "information": "it", "technology": "it", "digital": "it", "data": "data", "analytics": "data",
    "security": "security", "information security": "security", "procurement": "procurement",
    "purchasing": "procurement", "revenue": "sales", "sales": "sales", "commercial": "sales", "marketing": "marketing",
    "people": "hr", "human resources": "hr", "legal": "legal", "risk": "risk", "compliance": "risk",
    "customer": "customer_success", "customer success": "customer_success", "executive": "general_management",
}


def detect_function(normalized: str) -> str:
    padded = f" {normalized} "
    chief = _CHIEF_OF.search(padded)
    if chief:
        return _CHIEF_FUNCTION[chief.group(1)]
    for word, function in _CXO.items():
        if f" {word} " in padded:
            return function
    # the function named first wins ("VP Finance & Operations" is finance); general management only
    # when no specific function is named ("Assistant Vice President, Finance" is finance)
    best, best_at = "other", len(padded) + 1
    for function, pattern in _FUNCTION_PATTERNS:
        match = pattern.search(padded)
        if match and function != "general_management" and match.start() < best_at:
            best, best_at = function, match.start()
    if best == "other" and _FUNCTION_PATTERNS[-1][1].search(padded):
        return "general_management"
    return best


_C_LEVEL_SEGMENT = re.compile(
    r"^(interim |acting |fractional |group |global |deputy |co )?"
    r"(ceo|cfo|coo|cio|cto|cdo|ciso|cpo|cro|cmo|chro|pdg|daf|dg|gf|chief [a-z ]+ officer|founder|co founder|"
    r"cofounder|owner|president|managing director|general manager)$"
)


def _names_a_c_level_role(title: str) -> bool:
    """'SVP & CFO', 'EVP, Chief Operating Officer': a second role in the title that is C-level."""
    segments = re.split(r"\s*(?:,|\||/|;|&| and | - | et | und | y )\s*", title)
    return len(segments) > 1 and any(_C_LEVEL_SEGMENT.match(normalize_title(segment)) for segment in segments)


class TitleReader:
    """Reads titles with the built-in rules plus a seller's own vocabulary.

    `functions` (from the seller profile) maps a function to title words in any language; they are
    looked for before the built-in vocabulary, so a seller can name functions we do not know
    ("supply_chain", "payroll"). `buying_functions` decides which directors hold budget.
    """

    def __init__(self, functions: Mapping[str, Sequence[str]] | None = None,
                 buying_functions: Iterable[str] | None = None):
        self.extra = tuple(
            (function, re.compile("|".join(_needle_pattern(normalize_title(w)) for w in words if normalize_title(w))))
            for function, words in (functions or {}).items() if any(normalize_title(w) for w in words)
        )
        self.buying_functions = frozenset(BUYING_FUNCTIONS if buying_functions is None else buying_functions)
        self.fingerprint = hashlib.sha1(repr((RULES_FINGERPRINT, [(f, p.pattern) for f, p in self.extra],
                                              sorted(self.buying_functions))).encode()).hexdigest()[:8]
        self.neighbours: Any = None  # a TitleNeighbours (the labelled title bank), attached when embeddings exist
        self._rules = lru_cache(maxsize=65536)(self._rules_for)
        self.read = lru_cache(maxsize=65536)(self._read)

    def attach(self, neighbours: Any) -> None:
        """Titles no rule settles are read from their nearest labelled titles from now on."""
        self.neighbours = neighbours
        self.fingerprint = hashlib.sha1(f"{self.fingerprint}:{neighbours.fingerprint}".encode()).hexdigest()[:8]
        self.read.cache_clear()

    def _rules_for(self, normalized: str) -> tuple[str, str, str, str]:
        """(reading, level, why, function) from the ordered rules and the vocabulary alone; level "" when no rule
        settles it. Cached: a leads file repeats titles, and `prepare` and `read` both ask."""
        # "Financial Analyst, Office of the CFO": the office is a department, not the analyst's rank
        reading = _OFFICE_OF.sub(" office ", normalized)
        # "Head of Student Services", "Internship Program Manager": the student or intern is the subject
        skip_junior = bool(_LEADS_WITH_RANK.match(reading) or _JUNIOR_AS_SUBJECT.search(reading))
        level, why = "", ""
        for pattern, rule_level, rule_why in _COMPILED:
            if skip_junior and rule_level == "junior":
                continue
            if pattern.search(reading):
                level, why = rule_level, rule_why
                break
        return reading, level, why, self._function(normalized)

    def settled_by_rules(self, title: str) -> bool:
        """Whether the rules alone give this title a level and a function (no neighbours needed)."""
        normalized = normalize_title(title)
        if not readable(normalized):
            return True
        _, level, _, function = self._rules(normalized)
        return bool(level) and function != "other"

    def prepare(self, titles: Iterable[str | None]) -> None:
        """Before reading many titles (a leads file): embed at once the distinct ones the rules leave open."""
        if self.neighbours is not None:
            self.neighbours.prepare(t for t in {str(t or "").strip() for t in titles} if t and not self.settled_by_rules(t))

    def _function(self, normalized: str) -> str:
        padded = f" {normalized} "
        best, best_at = None, len(padded) + 1
        for function, pattern in self.extra:
            match = pattern.search(padded)
            if match and match.start() < best_at:
                best, best_at = function, match.start()
        return best or detect_function(normalized)

    def _read(self, title: str | None) -> TitleInfo:
        raw = (title or "").strip()
        normalized = normalize_title(raw)
        if not readable(normalized):
            return TitleInfo(raw, "unknown", "other", False, "no readable title")
        reading, level, why, ruled_function = self._rules(normalized)
        neighbours = None
        if not level and ruled_function != "other" and len(normalized.split()) <= 2 and not any(
                word in _RANK_WORDS for word in normalized.split()):
            level, why = "individual", "a function's name with no rank: someone who works in it"
        if not level and self.neighbours is not None:
            neighbours = self.neighbours.nearest(raw)
        if not level:
            level, why = (neighbours.level, neighbours.why) if neighbours else (
                "individual", "no seniority or junior marker: an individual contributor")
        if level in ("vp", "director", "manager", "individual") and _names_a_c_level_role(raw):
            level, why = "executive", "also holds a C-level role"
        staff = re.search(r"\b(chief of staff|chef de cabinet|jefe de gabinete|jefa de gabinete)\b", normalized)
        function = "general_management" if staff else ruled_function
        rank_only = all(word in _RANK_WORDS or word in _MODIFIERS for word in reading.split())
        if function == "other" and self.neighbours is not None and not rank_only:  # "Director" alone names none
            neighbours = neighbours or self.neighbours.nearest(raw)
            if neighbours and neighbours.function != "other":
                function = neighbours.function
                why = f"{why}; function from {neighbours.names}" if neighbours.why != why else why
        if level == "executive" and function == "other":
            function = "general_management"
        authority = level in ("executive", "vp") or (
            level == "director" and function in self.buying_functions and not staff
        )
        return TitleInfo(raw, level, function, authority, why)


DEFAULT_READER = TitleReader()


def classify_title(title: str | None) -> TitleInfo:
    """The built-in rules with the generic buying functions (no seller vocabulary)."""
    return DEFAULT_READER.read(title)
