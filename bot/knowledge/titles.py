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

from bot.knowledge.accounts import fold

LEVELS = ("executive", "vp", "director", "manager", "individual", "junior", "unknown")
FUNCTIONS = ("finance", "operations", "it", "procurement", "sales", "marketing", "hr", "engineering",
             "general_management", "other")
BUYING_FUNCTIONS = {"finance", "operations", "it", "procurement", "general_management"}
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
    "ceo": "general_management", "cfo": "finance", "coo": "operations", "cio": "it", "cto": "it", "cdo": "it",
    "ciso": "it", "cpo": "procurement", "cpro": "procurement", "chro": "hr", "cpeo": "hr", "cmo": "marketing",
    "cro": "sales", "cso": "sales", "cco": "sales", "cao": "finance", "cxo": "general_management",
    "pdg": "general_management", "dg": "general_management", "daf": "finance", "dsi": "it", "drh": "hr",
    "gf": "general_management", "md": "general_management", "gm": "general_management",
}

_FUNCTION_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("procurement", ("procurement", "purchas", "sourcing", "buyer", "buying", "supplier", "vendor manag", "achat",
                     "acheteu", "approvisionnement", "einkauf", "einkaeufer", "einkaufer", "beschaffung", "compras",
                     "comprador", "aprovisionamiento", "category manag")),
    ("finance", ("financ", "finanz", "fp and a", "shared service", "administration and finance", "cfo", "accounting", "accountant", "accounts", "controll", "treasur", "fp&a", "fp a", "fpa", "tax", "audit", "payable", "contador", "costos", "costing", "cost account",
                 "receivable", "billing", "credit", "comptab", "tresor", "controle de gestion", "buchhalt", "rechnungswesen",
                 "kaufmann", "kaufmaenn", "kaufmann", "kaufmannisch", "contab", "tesor", "fiscal", "ap ", "ar ",
                 "invoice", "payroll", "revenue account")),
    ("it", ("information", "it ", " it", "ti", "technolog", "systems", "system", "infrastructure", "digital", "data",
            "software", "developer", "devops", "security", "cyber", "network", "cloud", "erp", "sap", "application",
            "informatique", "informatik", "sistemas", "informatica", "tecnologia", "dsi", "cio", "cto", "scrum",
            "product owner", "architect", "helpdesk", "help desk")),
    ("operations", ("operation", "supply chain", "logistic", "plant", "production", "manufactur", "warehouse",
                    "fulfil", "distribution", "inventory", "inventario", "stocks", "disponent", "planning", "planner", "demand", "s&op", "quality",
                    "transport", "facility", "facilities", "site", "usine", "exploitation", "logistique", "betrieb",
                    "produktion", "logistik", "werksleit", "lagerleit", "disposition", "operaciones", "logistica",
                    "produccion", "almacen", "cadena de suministro", "planta", "coo")),
    ("hr", ("human resources", "hr", "rrhh", "paie", "lohn", "people", "talent", "recruit", "personnel", "personal", "rh", "ressources humaines",
            "recursos humanos", "payroll", "chro")),
    ("marketing", ("marketing", "brand", "communication", "content", "demand gen", "growth", "seo", "social media",
                   "events", "pr ", "cmo", "mercadotecnia", "kommunikation", "digital market")),
    ("sales", ("sales", "revenue", "account executive", "business development", "commercial", "customer success",
               "key account", "partnership", "vente", "commerc", "vertrieb", "verkauf", "ventas", "comercial",
               "cro", "bdr", "sdr")),
    ("engineering", ("engineer", "r&d", "research", "ingenieur", "ingeniero", "ingenieria", "entwicklung",
                     "technique", "technik", "mechanical", "electrical", "design")),
    ("general_management", ("general management", "managing director", "general manager", "ceo", "president",
                            "owner", "founder", "chief of staff", "geschaftsfuhr", "geschaeftsfuehr", "direction generale",
                            "directeur general", "directrice generale", "director general", "directora general",
                            "gerente general", "consejero delegado", "chairman", "chair", "board", "inhaber",
                            "grunder", "fundador", "fondateur", "gerant", "vorstand", "strategy", "strateg")),
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
    (r"\b(intern|internship|stagiaire|stage|praktikant|praktikantin|becario|becaria|trainee|apprentice|"
     r"apprenti|apprentie|alternant|alternante|alternance|auszubildende|auszubildender|azubi|werkstudent|"
     r"werkstudentin|working student|student|etudiant|etudiante|estudiante|graduate trainee|en practicas|"
     r"practicas|volontariat|vie|aprendiz|practicante|pasante|praktikum|auxiliar|duale studentin|dualer student|studentin|studierende\w*)\b|"
     r"\b\w*student(in)?\b", "junior", "intern, trainee, apprentice or student"),
    (r"^(assistant|assistante|asistente|assistent|assistentin|receptionist|secretary|secretaire|secretaria)\b|"
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
    (r"\bdg\b|\bgf\b", "executive", "general manager / managing director"),
    (r"\bboard member\b|\bmember of the board\b|\bboard director\b|\bnon executive director\b|"
     r"\bmembre du (conseil|directoire|comite de direction|comex)\b|\bmiembro del (consejo|comite de direccion)\b|"
     r"\bmitglied (der|des) (geschaftsleitung|geschaeftsleitung|vorstand\w*|aufsichtsrat\w*)\b|\baufsichtsrat\w*",
     "executive", "sits on the board or the executive committee"),
    (r"\bgerante? (de|du|d) (magasin|boutique|agence|restaurant|rayon|point de vente|sucursal|tienda)\b", "manager",
     "runs a store or branch"),
    (r"\b(co[ -]?)?(founder|fondateur|fondatrice|fundador|fundadora|grunder|gruenderin|grunderin)\b", "executive", "founder"),
    (r"\b(co[ -]?)?owner\b|\b(mit)?inhaber|\bduen[oa]\b|\bproprietaire\b|\bpropietari[oa]\b|\bgerant\b|\bgerante\b", "executive", "owner"),
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
    (r"\bhead\b|\b(directeur|directrice|director|directora|direktor|direktorin|dir)\b", "director",
     "director / head of a function"),
    (r"\b(bereichsleiter\w*|abteilungsleiter\w*|hauptabteilungsleiter\w*|leiter|leiterin|leitung|kaufmannischer leiter)\b",
     "director", "Leiter: heads a function"),
    (r"\b(jefe|jefa)\b(?! de (equipo|proyecto|turno|grupo))", "director", "jefe de ...: heads a function"),
    # -- managers
    (r"\w*manager(in)?\b|\b(mgr|gerente|lead(?! generation| gen\b)|leader|lider|rssi|supervisor|superviseur|supervisora?|"
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
    r"\bchief (financial|accounting|operating|supply chain|information|technology|digital|data|security|"
    r"procurement|purchasing|revenue|sales|commercial|marketing|people|human resources|executive) officer\b"
)
_CHIEF_FUNCTION = {
    "financial": "finance", "accounting": "finance", "operating": "operations", "supply chain": "operations",
    "information": "it", "technology": "it", "digital": "it", "data": "it", "security": "it",
    "procurement": "procurement", "purchasing": "procurement", "revenue": "sales", "sales": "sales",
    "commercial": "sales", "marketing": "marketing", "people": "hr", "human resources": "hr",
    "executive": "general_management",
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
        self.read = lru_cache(maxsize=65536)(self._read)

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
        if not normalized or normalized in {"n a", "na", "none", "unknown", "other", "tbd", "x"}:
            return TitleInfo(raw, "unknown", "other", False, "no title")
        level, why = "unknown", "title not recognised"
        for pattern, rule_level, rule_why in _COMPILED:
            if pattern.search(normalized):
                level, why = rule_level, rule_why
                break
        if level in ("vp", "director", "manager", "individual") and _names_a_c_level_role(raw):
            level, why = "executive", "also holds a C-level role"
        staff = re.search(r"\b(chief of staff|chef de cabinet|jefe de gabinete|jefa de gabinete)\b", normalized)
        function = "general_management" if staff else self._function(normalized)
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
