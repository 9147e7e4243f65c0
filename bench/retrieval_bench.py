"""Full `ask` latency at ~100,000 mixed CRM and content chunks, the local model loaded.

    .venv/bin/python bench/retrieval_bench.py [--chunks 100000 | --quick]

What is measured, in a process that opens an existing store the way the bot does (the project's own
`load_settings` and `build_services`, so queries go through the default local model, LocalE5):

- the first question (model load, HNSW index load, BM25 build, accounts and content library read), then
  the BM25 build, the account list and the content library on their own;
- over 3 rounds of ~60 questions (most name an account by part of its name, as reps type it; some are
  content-only, some French, German or Spanish, some follow-ups carrying `Turn`s): the full
  `answer_question` path, `Retriever.gather` alone, the query embedding alone and one account-name match
  (`AccountResolver.mentioned_in`, which an ask calls two or more times) (median, p95, max);
- the peak RSS of the filling process and of the answering process (resource.getrusage);
- a cold process: `python -m bot ask "..."` against the sample knowledge in .data/chroma, 3 times.

The store is throwaway (a temp dir) and is filled in a child process through `KnowledgeStore.add`, with
CRM chunks written by the real describer (`records.crm_chunks`, so texts and metadata are what ingest
writes) and content chunks laid out like the content loader's: ~2,000 accounts each with ~8 contacts,
~3 opportunities, ~35 activities and ~2.5 leads, plus ~1,000 content chunks (case studies, personas,
playbooks, battlecards, FAQs, product pages). Texts come from word lists with names and numbers, so
BM25 has real work.

Bulk vectors: embedding 100k texts with the real model takes hours on 2 cores, so only a few hundred
texts (four per record type and topic) are embedded with the model; every other chunk gets the real
vector of a text of its type and topic plus Gaussian noise, normalised. Dense ranking is therefore
approximate; the work (HNSW search, BM25, metadata filters, slices, fusion, the composer) is real.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bot.knowledge.crm import CrmFile  # noqa: E402
from bot.knowledge.documents import Chunk, chunk_id  # noqa: E402
from bot.knowledge.embeddings import LocalE5  # noqa: E402
from bot.knowledge.records import Directory, crm_chunks  # noqa: E402
from bot.runtime import Services, build_services  # noqa: E402
from bot.services.answering import Turn, answer_question, carried_account, condense  # noqa: E402
from bot.settings import Settings, load_settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
SEED = 7
ROUNDS = 3
EXEMPLARS = 4  # texts embedded for real per (type, topic), picked at random
NOISE = 0.35  # norm of the noise added to a real vector
COLD_QUESTION = "What is the next step on the Acme deal?"

# ---------------------------------------------------------------- word lists

STEMS = ("Hald Corv Nord Brix Ash Tal Wex Marl Lind Kran Ferr Gal Ost Bel Rav Sel Thorn Vel Dun Alt Kess Brun Cal "
         "Elm Fen Gren Hav Ivor Jar Kel Lor Mel Nev Orm Pell Quar Ros Sten Tov Ulm Var Wyn Yor Zel Abb Bram Carr "
         "Dray Esk Farn Glen Hol Inver Kirk Lang Mor Nals Pen Red Sil").split()
ENDINGS = ("brook wick stone field haven mont dale gate ford ridge hoek berg tal ora ano well mark port ton ley holm "
           "vik stad wood croft mere crest bury heim sund rock burn ness water moor land cliff garth row").split()
CUSTOMER_ENDINGS = "ara ico ova ent ix ona ium eo".split()  # case-study customers are not accounts
LANGUAGES = ("en", "en", "en", "en", "fr", "de", "es")
INDUSTRIES = {  # industry -> the sector word of a company name in each language
    "Food & Beverage": {"en": "Foods", "fr": "Agroalimentaire", "de": "Lebensmittel", "es": "Alimentación"},
    "Logistics": {"en": "Logistics", "fr": "Logistique", "de": "Logistik", "es": "Logística"},
    "Healthcare": {"en": "Health", "fr": "Santé", "de": "Kliniken", "es": "Salud"},
    "Automotive": {"en": "Motors", "fr": "Automobile", "de": "Antriebstechnik", "es": "Autopartes"},
    "Retail": {"en": "Home Retail", "fr": "Distribution", "de": "Handel", "es": "Comercial"},
    "Pharmaceuticals": {"en": "Pharma", "fr": "Pharma", "de": "Pharma", "es": "Farmacéutica"},
    "Manufacturing": {"en": "Industries", "fr": "Industries", "de": "Maschinenbau", "es": "Industrial"},
    "Wholesale": {"en": "Supply", "fr": "Négoce", "de": "Großhandel", "es": "Mayorista"},
}
LEGAL = {"en": ["Ltd", "Inc.", "plc", "Corporation", "Group"], "fr": ["SA", "SAS"], "de": ["GmbH", "AG"],
         "es": ["S.L.", "S.A. de C.V."]}
PLACES = {"en": [("United States", "Cleveland"), ("United States", "Atlanta"), ("United Kingdom", "Bristol"),
                 ("United Kingdom", "Leeds"), ("Canada", "Toronto")],
          "fr": [("France", "Lyon"), ("France", "Lille"), ("France", "Nantes")],
          "de": [("Germany", "Darmstadt"), ("Germany", "Stuttgart"), ("Austria", "Linz")],
          "es": [("Spain", "Valencia"), ("Spain", "Bilbao"), ("Mexico", "Monterrey")]}
FIRST = {"en": "Diane Robert Priya James Emily Marcus Hannah Oliver Grace Samuel".split(),
         "fr": "Nathalie Julien Camille Thomas Élodie Antoine Claire Mathieu".split(),
         "de": "Katrin Stefan Jonas Anna Lukas Miriam Tobias Sabine".split(),
         "es": "Verónica Alejandro Lucía Carlos Daniela Javier Marta Diego".split()}
LAST = {"en": "Whitaker Okafor Sandhu Brennan Tran Holloway Fischer Patel Moreau Ellison".split(),
        "fr": "Girard Lefèvre Marchand Rousseau Fontaine Dubois Mercier Laurent".split(),
        "de": "Hoffmann Kessler Brandt Wagner Schulz Krüger Neumann Vogel".split(),
        "es": "Garza Salinas Treviño Ortega Navarro Ruiz Castillo Méndez".split()}
TITLES = {"en": ["Chief Financial Officer", "VP Operations", "Director of Procurement", "Head of Supply Chain",
                 "IT Director", "Demand Planning Manager", "Procurement Analyst", "Controller", "Chief Operating Officer",
                 "Procurement Intern"],
          "fr": ["Directeur financier", "Directrice des achats", "Responsable supply chain", "DSI",
                 "Contrôleur de gestion", "Acheteuse"],
          "de": ["Leiter Einkauf", "Finanzvorstand", "Head of Supply Chain", "IT-Leiter", "Werkleiter", "Einkäuferin"],
          "es": ["Director financiero", "Directora de compras", "Jefe de logística", "Director de TI",
                 "Analista de compras", "Director general"]}
DEPARTMENTS = ["Finance", "Operations", "Procurement", "IT", "Supply Chain", ""]
TOPICS = ["working capital", "inventory levels", "forecast accuracy", "supplier risk", "invoice matching",
          "spend under management", "on-time delivery", "ERP integration", "security review", "pricing",
          "safety stock", "demand planning"]
PRODUCTS = ["Demand Forecasting", "Inventory Optimisation", "Spend Analytics", "Supplier Risk", "Invoice Matching",
            "Ops Cloud"]
COMPETITORS = ["Planwise", "Stockwell", "ProcureNova", "Ledgerline"]
ERPS = ["SAP S/4HANA", "SAP ECC", "Oracle NetSuite", "Microsoft Dynamics 365", "Infor"]
DOCS = ["ROI business-case guide", "CFO persona brief", "inventory benchmark report", "SAP S/4HANA connector datasheet",
        "security whitepaper", "retail case study"]
TRIGGERS = ["announced a cost-reduction programme", "appointed a new CFO", "is migrating to SAP S/4HANA",
            "opened a new plant", "acquired a competitor", "had a stock-out crisis", "expanded into Mexico",
            "lost a key supplier"]
PERSONAS = ["CFO", "COO", "VP Operations", "CPO", "Head of Procurement", "CIO"]
REPS = ["Sarah Klein", "Tom Becker", "Lucía Ortega", "Julien Marchand", "Priya Nair", "Mark Ellison"]
MONTHS = "January February March April May June July August September October November December".split()
STAGES = [("Qualification", 10), ("Discovery", 20), ("Proposal", 50), ("Negotiation", 70), ("Closed Won", 100),
          ("Closed Lost", 0)]
ACTIVITY_TYPES = ["Call", "Meeting", "Email", "Web visit", "Content download", "Webinar"]
LEAD_SOURCES = ["Organic Search", "Paid Social", "Webinar", "Trade Show", "Referral", "Email"]

SUBJECTS = {"en": ["{Topic} discovery", "Demo: {product}", "Pricing follow-up", "Quarterly business review",
                   "Intro call", "Business case review", "Webinar: {topic}", "Security questionnaire", "Pilot kickoff",
                   "Executive briefing", "Downloaded: {doc}"],
            "fr": ["Découverte {topic}", "Démo {product}", "Relance tarifaire", "Revue du business case"],
            "de": ["Erstgespräch {topic}", "Demo {product}", "Preisverhandlung", "Business-Case-Review"],
            "es": ["Descubrimiento {topic}", "Demo de {product}", "Seguimiento de precios",
                   "Revisión del caso de negocio"]}
NOTES = [
    "{first} said {topic} is the board's top priority for {year}.",
    "They run {erp} across {n} plants and want {topic} by region.",
    "Budget of {cur} {m}M approved for {topic}; decision expected in {month}.",
    "{first} asked for a case study from a {industry} company of similar size.",
    "Current forecast accuracy is {pct}% at SKU level; the target is {pct2}%.",
    "Also evaluating {competitor}; worried about implementation time.",
    "Sent the ROI model and the {doc} after the call.",
    "Procurement wants a security review and the SOC 2 report before the pilot.",
    "{first} downloaded the {doc} and viewed the pricing page {n} times.",
    "Inventory is {pct}% above target after the customer {trigger}.",
    "Champion is {first}; the economic buyer is the {title}.",
    "Pilot at the {city} plant went live on {date}: {pct2}% fewer stock-outs so far.",
    "Pricing pushback: they want {n}% off the Enterprise tier.",
    "Next meeting set with {first} and the {title} on {date}.",
    "No reply after three emails; try the {title} instead.",
    "The customer {trigger}; {first} thinks {topic} will get budget.",
    "Spend under management is only {pct}%; {first} wants {pct2}% by {year}.",
]
LOCAL_NOTES = {
    "fr": ["{first} veut réduire les stocks de {n}% d'ici {year}.", "Budget de {m} M EUR validé pour {topic}.",
           "Inquiets du délai de mise en œuvre avec {competitor}."],
    "de": ["{first} will die Bestände bis {year} um {n}% senken.", "Budget von {m} Mio. EUR für {topic} freigegeben.",
           "Sorge wegen der Einführungszeit bei {competitor}."],
    "es": ["{first} quiere reducir el inventario un {n}% en {year}.", "Presupuesto de {m} M EUR aprobado para {topic}.",
           "Preocupados por el plazo de implantación con {competitor}."],
}
NEXT_STEPS = [
    "Business case review with {contact} ({title}) on {date}; send the revised ROI model before.",
    "Security review with IT: send the SOC 2 report and the data-residency note.",
    "Pricing call with procurement: they asked for {n}% off the Enterprise tier.",
    "Pilot kickoff at the {city} plant on {date}.",
    "Waiting on the {title}'s sign-off; chase {contact} on {date}.",
    "Lost to {competitor} on price; revisit at renewal in {year}.",
    "Reference call with a {industry} customer requested by {contact}.",
]

# content: (type, label the loader puts before the title, title template, sections, sentences)
CONTENT = [
    ("case_study", "Case study:", "{customer} cuts inventory by {pct}% with {product}",
     ["At a glance", "The situation", "The approach", "The results", "Modules and timeline", "What they said"],
     ["{customer}, a {industry} company with {n} sites, cut inventory by {pct}% in {months} months.",
      "Forecast accuracy rose from {pct}% to {pct2}% at SKU-location-week level.",
      "The {persona} sponsored the project after a stock-out crisis cost {cur} {m}M in lost sales.",
      "{product} went live in {weeks} weeks, connected to {erp} through the standard connector.",
      "Working capital released: {cur} {m}M, payback in {months} months.",
      "On-time delivery improved from {pct}% to {pct2}% across {n} distribution centres.",
      "Spend under management grew from {pct}% to {pct2}% within a year.",
      "\"We finally plan on one number,\" said the {persona} of {customer}.",
      "They replaced spreadsheets and a legacy {competitor} deployment."]),
    ("persona", "Persona:", "Persona messaging: the {persona} in {industry}",
     ["What they are measured on", "What keeps them up at night", "Questions to ask", "Messages that land",
      "Objections and answers"],
     ["The {persona} is measured on working capital, margin and forecast accuracy.",
      "What keeps the {persona} up at night: stock-outs, excess inventory and supplier risk.",
      "Ask the {persona}: how many days of inventory does the board accept?",
      "Lead with a number from a {industry} customer of similar size, not with features.",
      "Avoid jargon about algorithms; talk about cash, service levels and risk.",
      "A typical objection: 'We already plan in {erp}.' Answer with the {pct}% accuracy gain at {customer}.",
      "The {persona} signs off investments above {cur} {m}00k with the CFO."]),
    ("playbook", "Playbook:", "Playbook: {play}",
     ["Why this play", "When to run it", "Step 1", "Step 2", "Step 3", "Checklist", "Pitfalls"],
     ["Map the buying committee: the {persona}, procurement and IT.",
      "Open with a trigger event: a new {persona}, a migration to {erp}, or a stock-out in the news.",
      "Send a short email with one proof point and one question; follow up within {n} days.",
      "Bottom-up: win a planner or analyst first, then use their numbers to reach the {persona}.",
      "Top-down: a two-line note to the {persona} with a {industry} benchmark gets more replies than a deck.",
      "Book the business-case workshop before the pilot and agree the success metric ({pct}% forecast accuracy)."]),
    ("battlecard", "Battlecard:", "Battlecard: us vs {competitor}",
     ["Where they win", "Where we win", "Landmines", "Pricing", "Objections"],
     ["{competitor} wins when the buyer wants a spreadsheet-like tool and a low first-year price.",
      "We win on time to value: live in {weeks} weeks versus {months} months for {competitor}.",
      "Lay a landmine: ask how {competitor} handles multi-echelon inventory across {n} sites.",
      "{competitor} lists at about {cur} {m}0k a year for {n} users; their {erp} connector is services work.",
      "Never disparage {competitor} in front of a customer; ask questions that let the buyer see the difference."]),
    ("faq", "Faq:", "FAQ: {area}",
     ["Where is data hosted?", "Security certifications", "Which ERPs do you connect to?", "Implementation",
      "Pricing and packaging", "Single sign-on"],
     ["Customer data is hosted in the EU (Frankfurt) or the US (Virginia); the customer chooses the region.",
      "We are SOC 2 Type II certified and ISO 27001; the report is shared under NDA.",
      "Standard connectors exist for SAP S/4HANA, SAP ECC, Oracle NetSuite, Microsoft Dynamics 365 and Infor.",
      "A typical implementation takes {weeks} weeks; a pilot takes {months} months.",
      "Pricing is per site and module in Essentials, Professional and Enterprise tiers; discounts above {n}% "
      "need VP approval.",
      "Single sign-on with SAML and SCIM provisioning is included in Professional and Enterprise.",
      "The uptime SLA is 99.9% on Enterprise. Not on Essentials.",
      "Data is encrypted at rest (AES-256) and in transit (TLS 1.2 or later)."]),
    ("product", "Product:", "Product overview: {product}",
     ["What it does", "Who uses it", "How it works", "Integrations", "Results"],
     ["{product} forecasts demand by SKU, location and week, with promotions and weather.",
      "{product} sets safety stock for every item and site, balancing service level and cash.",
      "{product} scores suppliers on delivery, quality and financial risk, refreshed weekly.",
      "{product} matches invoices to purchase orders and receipts, {pct}% of them touchless.",
      "Planners see exceptions first: the {n} items that matter this week, not a report of thousands.",
      "It reads orders and stock from {erp} every night and writes plans back."]),
]
PLAYS = ["top-down executive outreach", "bottom-up path to power", "ERP migration trigger", "renewal and expansion",
         "business-case workshop", "competitive displacement"]
FAQ_AREAS = ["security and hosting", "integrations", "pricing and packaging", "implementation"]


# ---------------------------------------------------------------- the generated knowledge

@dataclass
class Company:
    id: str
    name: str
    language: str
    industry: str
    country: str
    city: str
    domain: str


def facts(rng: random.Random, **fixed: object) -> dict[str, object]:
    """Everything a sentence template may ask for: names, numbers, dates."""
    pct = rng.randint(40, 80)
    topic = rng.choice(TOPICS)
    values: dict[str, object] = {
        "pct": pct, "pct2": pct + rng.randint(5, 18), "n": rng.randint(3, 40), "m": rng.randint(2, 90),
        "cur": rng.choice(["USD", "EUR", "GBP"]), "weeks": rng.randint(8, 16), "months": rng.randint(4, 14),
        "year": rng.choice([2026, 2027]), "date": random_date(rng), "month": rng.choice(MONTHS),
        "topic": topic, "Topic": topic.capitalize(), "product": rng.choice(PRODUCTS),
        "competitor": rng.choice(COMPETITORS), "erp": rng.choice(ERPS), "doc": rng.choice(DOCS),
        "trigger": rng.choice(TRIGGERS), "industry": rng.choice(list(INDUSTRIES)), "persona": rng.choice(PERSONAS),
        "customer": f"{rng.choice(STEMS)}{rng.choice(CUSTOMER_ENDINGS)}", "play": rng.choice(PLAYS),
        "area": rng.choice(FAQ_AREAS), "first": "the customer", "title": "CFO", "contact": "the CFO", "city": "main",
    }
    values.update(fixed)
    return values


def random_date(rng: random.Random) -> str:
    return f"{rng.choice([2025, 2026])}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def sentences(rng: random.Random, templates: Sequence[str], count: int, **fixed: object) -> str:
    return " ".join(template.format(**facts(rng, **fixed)) for template in rng.sample(list(templates), count))


def companies(rng: random.Random, count: int) -> list[Company]:
    names = [stem + ending for stem in STEMS for ending in ENDINGS]
    rng.shuffle(names)
    found = []
    for i in range(count):
        language = rng.choice(LANGUAGES)
        industry = rng.choice(list(INDUSTRIES))
        country, city = rng.choice(PLACES[language])
        first = names[i % len(names)] + (f" {i // len(names) + 1}" if i >= len(names) else "")
        name = f"{first} {INDUSTRIES[industry][language]} {rng.choice(LEGAL[language])}"
        tld = {"en": "com", "fr": "fr", "de": "de", "es": "es"}[language]
        found.append(Company(f"001B{i:06d}", name, language, industry, country, city, f"{first.lower()}.{tld}"))
    return found


def account_record(rng: random.Random, company: Company) -> dict[str, object]:
    return {"record_type": "account", "id": company.id, "name": company.name, "industry": company.industry,
            "country": company.country, "city": company.city, "employees": rng.randint(80, 25_000),
            "revenue": rng.randint(20, 4_000) * 1_000_000, "website": f"www.{company.domain}"}


def person(rng: random.Random, company: Company) -> tuple[str, str, str, str]:
    first, last = rng.choice(FIRST[company.language]), rng.choice(LAST[company.language])
    title = rng.choice(TITLES[company.language] + TITLES["en"][:4])
    email = f"{first.lower()}.{last.lower()}@{company.domain}"
    return first, last, title, email


def company_records(rng: random.Random, company: Company, counter: Counter[str]) -> dict[str, list[dict[str, object]]]:
    """One account's contacts, deals, activities and leads, as the CRM readers normalise them."""
    contacts = []
    for _ in range(rng.randint(5, 11)):
        counter["contact"] += 1
        first, last, title, email = person(rng, company)
        contacts.append({"record_type": "contact", "id": f"003B{counter['contact']:07d}", "account_id": company.id,
                         "first_name": first, "last_name": last, "name": f"{first} {last}", "title": title,
                         "department": rng.choice(DEPARTMENTS), "email": email})
    opportunities = []
    for _ in range(rng.randint(1, 5)):
        counter["opportunity"] += 1
        stage, probability = rng.choice(STAGES)
        contact = rng.choice(contacts)
        fixed = {"contact": contact["name"], "title": contact["title"], "city": company.city}
        opportunities.append({
            "record_type": "opportunity", "id": f"006B{counter['opportunity']:07d}", "account_id": company.id,
            "name": f"{company.name.split()[0]} - {rng.choice(PRODUCTS)} "
                    f"{rng.choice(['Pilot', 'Rollout', 'Expansion', 'Renewal', 'Multi-Plant Rollout'])}",
            "stage": stage, "amount": rng.randint(30, 900) * 1000, "close_date": f"2026-{rng.randint(1, 12):02d}-28",
            "probability": probability, "next_step": sentences(rng, NEXT_STEPS, 1, **fixed),
            "owner": rng.choice(REPS)})
    activities = []
    for _ in range(rng.randint(20, 50)):
        counter["activity"] += 1
        contact = rng.choice(contacts)
        fixed = {"first": contact["first_name"], "title": contact["title"], "city": company.city,
                 "contact": contact["name"]}
        language = company.language if rng.random() < 0.4 else "en"
        notes = sentences(rng, NOTES, rng.randint(1, 3), **fixed)
        if language != "en":
            notes = sentences(rng, LOCAL_NOTES[language], 1, **fixed) + " " + notes
        activities.append({
            "record_type": "activity", "id": f"00TB{counter['activity']:07d}", "account_id": company.id,
            "contact_id": contact["id"], "date": random_date(rng), "type": rng.choice(ACTIVITY_TYPES),
            "subject": rng.choice(SUBJECTS[language]).format(**facts(rng)), "description": notes})
    leads = []
    for _ in range(rng.randint(0, 5)):
        counter["lead"] += 1
        first, last, title, email = person(rng, company)
        leads.append({"record_type": "lead", "id": f"770B{counter['lead']:07d}", "first_name": first,
                      "last_name": last, "name": f"{first} {last}", "title": title, "company": company.name,
                      "email": email, "score": rng.randint(5, 99), "page_views": rng.randint(0, 80),
                      "form_submissions": rng.randint(0, 8), "source": rng.choice(LEAD_SOURCES),
                      "last_activity": random_date(rng)})
    return {"contact": contacts, "opportunity": opportunities, "activity": activities, "lead": leads}


def crm_sources(rng: random.Random, accounts: int) -> dict[str, list[Chunk]]:
    """CRM chunks per export file, written by the project's own describer."""
    by_type: dict[str, list[dict[str, object]]] = {"account": [], "contact": [], "opportunity": [], "activity": [],
                                                   "lead": []}
    counter: Counter[str] = Counter()
    for company in companies(rng, accounts):
        by_type["account"].append(account_record(rng, company))
        for record_type, records in company_records(rng, company, counter).items():
            by_type[record_type].extend(records)
    directory = Directory()
    for record_type in ("account", "contact", "opportunity"):
        for record in by_type[record_type]:
            directory.add(record)
    sources = {}
    for record_type, records in by_type.items():
        source = f"crm/{'opportunities' if record_type == 'opportunity' else record_type + 's'}.csv"
        parsed = CrmFile(record_type, [(line, record) for line, record in enumerate(records, start=2)])
        sources[source], _ = crm_chunks(parsed, source, directory)
    return sources


def content_sources(rng: random.Random, target: int) -> dict[str, list[Chunk]]:
    """Content documents, one chunk per section, labelled the way the content loader labels them."""
    sources: dict[str, list[Chunk]] = {}
    total = 0
    while total < target:
        doc_type, label, title_template, headings, pool = rng.choice(CONTENT)
        values = facts(rng)
        title = title_template.format(**values)
        source = f"content/{doc_type.replace('_', '-')}-{len(sources) + 1:04d}.md"
        industries = ", ".join(sorted({str(values["industry"]), rng.choice(list(INDUSTRIES))}))
        chunks = []
        for ordinal, heading in enumerate(headings):
            body = sentences(rng, pool, min(len(pool), rng.randint(2, 4)), customer=values["customer"],
                             persona=values["persona"], industry=values["industry"], competitor=values["competitor"],
                             product=values["product"])
            context = "" if title.lower().startswith(label[:-1].lower()) else label + " "
            text = f"{context}{title} — {heading}\n{body}"
            metadata = {"kind": "content", "type": doc_type, "ref": source, "title": title, "section": heading,
                        "source": source, "chunk": ordinal, "account_id": "", "account_name": "",
                        "industries": industries, "personas": str(values["persona"]),
                        "url": f"https://www.example.com/{source.removesuffix('.md')}"}
            chunks.append(Chunk(chunk_id(source, ordinal, text), text, metadata))
        sources[source] = chunks
        total += len(chunks)
    return sources


# ---------------------------------------------------------------- vectors

TOPIC_MARKERS = ["forecast", "inventor", "working capital", "supplier", "invoice", "spend", "on-time", "security",
                 "pric", "safety stock", "erp", "sap"]


def template_key(chunk: Chunk) -> tuple[str, str]:
    """(type, topic): chunks that share one get vectors around the same real ones."""
    text = chunk.text.lower()
    return str(chunk.metadata["type"]), next((marker for marker in TOPIC_MARKERS if marker in text), "")


def make_vectors(embeddings: Any, chunks: Sequence[Chunk], rng: random.Random) -> tuple[np.ndarray, int]:
    """A few hundred real vectors; every other chunk: a real vector of its (type, topic) plus noise."""
    keys = [template_key(chunk) for chunk in chunks]
    groups: dict[tuple[str, str], list[int]] = {}
    for position, key in enumerate(keys):
        groups.setdefault(key, []).append(position)
    exemplars = {key: rng.sample(positions, min(EXEMPLARS, len(positions))) for key, positions in groups.items()}
    real_positions = [p for positions in exemplars.values() for p in positions]
    real = np.asarray(embeddings.embed_documents([chunks[p].text for p in real_positions]), dtype=np.float32)
    row_of = {position: row for row, position in enumerate(real_positions)}
    base = np.array([row_of.get(p, row_of[rng.choice(exemplars[keys[p]])]) for p in range(len(chunks))])
    noise = np.random.default_rng(SEED).standard_normal((len(chunks), real.shape[1]), dtype=np.float32)
    vectors = real[base] + noise * np.float32(NOISE / np.sqrt(real.shape[1]))
    vectors[real_positions] = real
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors, len(real_positions)


# ---------------------------------------------------------------- filling the store (child process)

def bench_settings(folder: Path) -> Settings:
    return load_settings(None, chroma_path=folder / "chroma", knowledge_path=folder / "knowledge")


def fill_store(folder: str, target: int) -> None:
    services = build_services(bench_settings(Path(folder)))
    rng = random.Random(SEED)
    started = time.perf_counter()
    content_target = max(50, target // 100)
    sources = crm_sources(rng, round((target - content_target) / 49.5))  # 1 + 8 + 3 + 35 + 2.5 chunks an account
    sources.update(content_sources(rng, content_target))
    chunks = [chunk for part in sources.values() for chunk in part]
    kinds = Counter(str(chunk.metadata["type"]) for chunk in chunks)
    print(f"generated {len(chunks):,} chunks in {time.perf_counter() - started:.1f} s: "
          + ", ".join(f"{count:,} {kind}" for kind, count in kinds.most_common()), flush=True)

    started = time.perf_counter()
    vectors, real = make_vectors(services.embeddings, chunks, rng)
    print(f"vectors: {real} chunk texts embedded with {services.embeddings.name} in "
          f"{time.perf_counter() - started:.1f} s ({EXEMPLARS} per record type and topic); the other {len(chunks) - real:,} "
          f"are the real vector of a same type-and-topic text plus Gaussian noise (norm {NOISE}), normalised",
          flush=True)

    started = time.perf_counter()
    step = 5000
    for start in range(0, len(chunks), step):
        services.store.add(chunks[start:start + step], vectors[start:start + step].tolist())
        if (start // step) % 4 == 3:
            print(f"  {start + step:,} chunks written, {time.perf_counter() - started:.0f} s", flush=True)
    for source, part in sources.items():
        digest = hashlib.sha256(f"{source}|{len(part)}|{SEED}".encode()).hexdigest()
        services.store.record_source(source, digest, len(part), [])
    seconds = time.perf_counter() - started
    print(f"store: {services.store.count():,} chunks from {len(sources):,} sources written in {seconds:.0f} s "
          f"({len(chunks) / seconds:,.0f} chunks/s)", flush=True)


def build_store(folder: Path, target: int) -> None:
    """Fill the store in a child process, so this process's RSS is the answering process's alone."""
    child = multiprocessing.get_context("spawn").Process(target=fill_store, args=(str(folder), target))
    child.start()
    child.join()
    if child.exitcode:
        raise SystemExit(f"filling the store failed (exit {child.exitcode})")
    print(f"peak RSS of the filling process: {peak_rss(resource.RUSAGE_CHILDREN):,.0f} MB")


# ---------------------------------------------------------------- questions

@dataclass(frozen=True)
class Question:
    text: str
    kind: str  # "account", "content", "other language" or "follow-up"
    history: tuple[Turn, ...] = ()
    account_id: str | None = None  # the account the answer should be about


ACCOUNT_QUESTIONS = [
    "What's the next step on the {a} deal?", "Who is the CFO at {a}?", "When did we last meet {a}?",
    "How big is the {a} opportunity and when is it expected to close?", "What did {a} say about forecast accuracy?",
    "Which contacts do we have at {a}?", "Any recent activity with {a}?", "What stage is the {a} renewal in?",
    "Who owns the {a} account on our side?", "Has {a} mentioned SAP S/4HANA?", "What are {a}'s priorities for 2027?",
    "Summarise the last call with {a}", "Did anyone at {a} download the ROI business-case guide?",
    "How many employees does {a} have?", "Is there a champion at {a}?", "What concerns did {a} raise about pricing?",
    "Which competitor is {a} evaluating?", "What is the total pipeline with {a}?",
    "Who is the head of procurement at {a}?", "What happened after the webinar with {a}?",
    "prep me for my meeting with {a} tomorrow", "{a} - any new leads from the website?",
    "What revenue does {a} make?", "Did {a} start the pilot?", "next steps {a}", "what did we send {a} after the demo",
    "Is {a} on SAP or Oracle?", "Who at {a} cares about working capital?", "What's {a}'s inventory situation?",
    "Where is {a} based and what industry are they in?", "Has {a} asked for a security review?",
    "what budget does {a} have for supplier risk",
]
OTHER_LANGUAGE_QUESTIONS = [
    "Quelle est la prochaine étape avec {a} ?", "Qui est le directeur financier chez {a} ?",
    "Wer ist unser Ansprechpartner bei {a}?", "Wann hatten wir das letzte Meeting mit {a}?",
    "¿Cuál es el importe de la oportunidad con {a}?", "¿Quién es la directora de compras en {a}?",
]
CONTENT_QUESTIONS = [
    "Do we have a customer story in retail?", "What does a CFO care about?", "How is pricing structured?",
    "Where is customer data hosted?", "How do we position against Planwise?",
    "What's the best way to open with a VP Operations?", "Is there a case study with a payback under a year?",
    "Which ERPs do we integrate with?", "How do I run a business-case workshop?", "Are we SOC 2 certified?",
    "Is single sign-on included in Essentials?", "What is the uptime SLA?",
]
OTHER_LANGUAGE_CONTENT = [
    "Avez-vous une étude de cas dans la pharma ?", "Wie sieht das Preismodell aus?",
    "¿Qué le importa a un director financiero?", "Comment se positionner face à Stockwell ?",
]


def make_questions(services: Services) -> list[Question]:
    rng = random.Random(SEED + 1)
    accounts = rng.sample(services.retriever.resolver.accounts, 60)
    picks = iter(accounts)
    questions = []
    for template in ACCOUNT_QUESTIONS:
        account = next(picks)
        # reps type part of the name: its first word, sometimes lower case
        typed = account.name.split()[0]
        questions.append(Question(template.format(a=typed if rng.random() < 0.8 else typed.lower()), "account",
                                  account_id=account.id))
    for template in OTHER_LANGUAGE_QUESTIONS:
        account = next(picks)
        questions.append(Question(template.format(a=account.name.split()[0]), "other language", account_id=account.id))
    questions += [Question(text, "content") for text in CONTENT_QUESTIONS]
    questions += [Question(text, "other language") for text in OTHER_LANGUAGE_CONTENT]
    a, b = next(picks), next(picks)
    questions.append(Question(f"Compare the {a.name.split()[0]} and {b.name.split()[0]} deals", "account"))
    questions.append(Question("What's the latest with Globex?", "account"))  # an account we do not have
    return questions + follow_ups(picks)


def follow_ups(picks: Any) -> list[Question]:
    """Conversations: the earlier turns as the Slack thread gives them (with or without the account kept)."""
    one, two, three, four, five = (next(picks) for _ in range(5))
    first = {account.id: account.name.split()[0] for account in (one, two, three, four, five)}
    return [
        Question("And who is the sponsor there?", "follow-up",
                 (Turn(f"What's the next step on the {first[one.id]} deal?", one.id),), one.id),
        Question("when did we last talk to them?", "follow-up", (Turn(f"Who is the CFO at {first[two.id]}?"),), two.id),
        Question("what about pricing?", "follow-up", (Turn(f"Any recent activity with {first[three.id]}?", three.id),),
                 three.id),
        Question("and in pharma?", "follow-up", (Turn("Do we have a customer story in retail?"),)),
        Question("Et le montant ?", "follow-up", (Turn(f"Quelle est la prochaine étape avec {first[four.id]} ?",
                                                       four.id),), four.id),
        Question("what did they say last time?", "follow-up",
                 (Turn(f"How big is the {first[five.id]} opportunity?", five.id),
                  Turn("who is the champion?", five.id)), five.id),
    ]


# ---------------------------------------------------------------- timing

def peak_rss(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KB on Linux


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(values: Sequence[float]) -> str:
    return (f"median {statistics.median(values):6.1f}   p95 {percentile(values, 0.95):6.1f}   "
            f"max {max(values):6.1f} ms")


def timed(call: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = call()
    return (time.perf_counter() - started) * 1000, result


def gather_input(services: Services, question: Question) -> tuple[str, Any]:
    """The query and account `answer_question` hands to `gather` (no language model: the rule condenser)."""
    carried = carried_account(services.retriever, question.text, question.history)
    return (question.text if carried is not None else condense(question.text, question.history)), carried


def warm_up(services: Services, questions: Sequence[Question]) -> None:
    retriever = services.retriever
    ms, _ = timed(lambda: answer_question(questions[0].text, retriever=retriever))
    print(f"first question (model load, HNSW index open, BM25 build, accounts and content read): {ms:,.0f} ms")
    ms, _ = timed(lambda: LocalE5().embed_query("warm up"))
    print(f"  of which the model: load and first query in a fresh LocalE5 {ms:,.0f} ms")
    ms, _ = timed(lambda: services.store.chunks.get(include=["documents"]))
    print(f"  reading every chunk's text from Chroma (what the BM25 build starts with): {ms:,.0f} ms")
    retriever.refresh()
    ms, index = timed(retriever.lexical)
    print(f"  BM25 index build over {len(index):,} chunks (read from Chroma, tokenise, index): {ms:,.0f} ms")
    ms, resolver = timed(lambda: retriever.resolver)
    print(f"  account list ({len(resolver.accounts):,} accounts): {ms:,.0f} ms")
    ms, content = timed(retriever.content_slice)
    print(f"  content library in memory ({len(content.ids):,} chunks with vectors): {ms:,.0f} ms")
    for question in questions[:3]:
        answer_question(question.text, retriever=retriever, history=question.history)


def run_rounds(services: Services, questions: Sequence[Question]) -> dict[str, list[list[float]]]:
    """Per question, one timing per round: the full ask, gather alone, the query embedding alone, and the
    account-name match (`mentioned_in`, called by `carried_account` and again by `gather`)."""
    retriever, embeddings = services.retriever, services.embeddings
    inputs = [gather_input(services, question) for question in questions]
    times: dict[str, list[list[float]]] = {name: [[] for _ in questions] for name in ("ask", "gather", "embed", "names")}
    answers = []
    for _ in range(ROUNDS):
        answers = []
        for i, question in enumerate(questions):
            retriever.resolver._mentioned.clear()  # no round may reuse an earlier round's name matches
            ms, answer = timed(lambda q=question: answer_question(q.text, retriever=retriever, history=q.history))
            times["ask"][i].append(ms)
            answers.append(answer)
        for i, (query, carried) in enumerate(inputs):
            times["gather"][i].append(timed(lambda q=query, c=carried: retriever.gather(q, account=c))[0])
        for i, (query, _) in enumerate(inputs):
            times["embed"][i].append(timed(lambda q=query: embeddings.embed_query(q))[0])
        for i, question in enumerate(questions):
            times["names"][i].append(timed(lambda q=question: retriever.resolver._find_mentioned(q.text))[0])
    report_answers(questions, answers)
    return times


def report_answers(questions: Sequence[Question], answers: Sequence[Any]) -> None:
    """A sanity check that the path did real work: grounded answers, and named accounts found."""
    grounded = sum(1 for answer in answers if answer.grounded)
    named = [(q, a) for q, a in zip(questions, answers) if q.account_id]
    right = sum(1 for q, a in named if a.account_id == q.account_id)
    print(f"answers: {grounded}/{len(answers)} grounded; {right}/{len(named)} questions naming (or carrying) an "
          f"account were answered about that account")


def report_times(questions: Sequence[Question], times: dict[str, list[list[float]]]) -> None:
    labels = {"ask": "full ask (answer_question)", "gather": "retriever.gather alone", "embed": "query embedding alone",
              "names": "account-name match, uncached"}
    count = len(questions) * ROUNDS
    print(f"\nwarm timings, {len(questions)} questions x {ROUNDS} rounds = {count} each:")
    for name, label in labels.items():
        print(f"  {label:<31} {summary([ms for per in times[name] for ms in per])}")
    print("full ask by kind of question:")
    for kind in ("account", "content", "other language", "follow-up"):
        values = [ms for q, per in zip(questions, times["ask"]) if q.kind == kind for ms in per]
        print(f"  {kind:<15} ({len(values) // ROUNDS:>2} questions) {summary(values)}")
    slowest = sorted(range(len(questions)), key=lambda i: -statistics.median(times["ask"][i]))[:3]
    print("slowest questions (median full ask):")
    for i in slowest:
        print(f"  {statistics.median(times['ask'][i]):6.1f} ms  {questions[i].text}")


# ---------------------------------------------------------------- a cold process on the sample knowledge

def run_cli(python: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([python, "-m", "bot", *args], cwd=ROOT, capture_output=True, text=True)


def cold_process() -> None:
    python = str(PYTHON if PYTHON.exists() else sys.executable)
    ms, done = timed(lambda: run_cli(python, "ingest", "--json"))
    if done.returncode and "--rebuild" in done.stdout + done.stderr:
        print("the sample store in .data/chroma was built with another embedding model: ingest --rebuild")
        ms, done = timed(lambda: run_cli(python, "ingest", "--rebuild", "--json"))
    if done.returncode:
        print(f"cold process skipped: ingest failed: {(done.stderr or done.stdout).strip()[-300:]}")
        return
    print(f"\nsample store ready in .data/chroma (`python -m bot ingest`: {ms / 1000:.1f} s)")
    seconds = []
    for _ in range(3):
        ms, done = timed(lambda: run_cli(python, "ask", COLD_QUESTION))
        if done.returncode:
            print(f"cold ask failed: {(done.stderr or done.stdout).strip()[-300:]}")
            return
        seconds.append(ms / 1000)
    print(f"cold process `python -m bot ask \"{COLD_QUESTION}\"`: median {statistics.median(seconds):.2f} s "
          f"({', '.join(f'{s:.2f}' for s in seconds)}); target < 3 s")


# ---------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--chunks", type=int, default=100_000, help="about how many chunks (default 100,000)")
    size.add_argument("--quick", action="store_true", help="10,000 chunks, for a fast check")
    args = parser.parse_args()
    target = 10_000 if args.quick else args.chunks

    with tempfile.TemporaryDirectory(prefix="retrieval-bench-") as tmp:
        folder = Path(tmp)
        (folder / "knowledge").mkdir()
        build_store(folder, target)
        ms, services = timed(lambda: build_services(bench_settings(folder)))
        print(f"\nanswering process: services built in {ms:,.0f} ms ({services.embeddings.name}, "
              f"{services.store.count():,} chunks)")
        questions = make_questions(services)
        warm_up(services, questions)
        times = run_rounds(services, questions)
        report_times(questions, times)
        p95 = percentile([ms for per in times["ask"] for ms in per], 0.95)
        print(f"target: full ask p95 <= 100 ms at {services.store.count():,} chunks -> "
              f"{'met' if p95 <= 100 else 'NOT met'} ({p95:.1f} ms)")
        print(f"peak RSS of the answering process: {peak_rss():,.0f} MB")
    cold_process()


if __name__ == "__main__":
    main()
