"""A generated, realistic-shaped corpus for benchmarks (CRM exports plus content documents)."""

from __future__ import annotations

import csv
import random
from pathlib import Path

INDUSTRIES = ["Manufacturing", "Retail", "Logistics", "Healthcare", "Food & Beverage", "Automotive", "Pharma", "Wholesale"]
COUNTRIES = ["United States", "United Kingdom", "France", "Germany", "Spain", "Mexico", "Netherlands", "Canada"]
TITLES = ["Chief Financial Officer", "VP Operations", "Director of Procurement", "IT Manager", "Supply Chain Analyst",
          "Marketing Intern", "Directeur financier", "Leiter Einkauf", "Jefe de compras", "Procurement Assistant"]
TYPES = ["Call", "Meeting", "Email", "Web visit", "Content download", "Webinar"]
TRIGGERS = ["announced a cost-reduction programme", "appointed a new CFO", "is migrating to SAP S/4HANA",
            "opened a new plant", "acquired a competitor", "had a stock-out crisis", "expanded into a new country",
            "lost a key supplier"]
TOPICS = ["working capital", "inventory levels", "forecast accuracy", "supplier risk", "invoice matching",
          "spend under management", "on-time delivery", "integration with the ERP", "security review", "pricing"]
WORDS = ("the team reviewed our plan to reduce inventory while protecting service levels and asked for a business "
         "case with payback period supplier consolidation savings forecast accuracy improvements across regions and "
         "a phased rollout starting with the pilot plant finance wants evidence from similar customers").split()


def write_corpus(folder: Path, *, accounts: int, contacts: int, opportunities: int, activities: int, leads: int,
                 documents: int, sections: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    crm = folder / "crm"
    content = folder / "content"
    crm.mkdir(parents=True, exist_ok=True)
    content.mkdir(parents=True, exist_ok=True)
    names = [f"{rng.choice(['Nord', 'Sol', 'Blue', 'Iron', 'Green', 'Silver'])}{rng.choice(['wind', 'ara', 'peak', 'field', 'stone'])} "
             f"{rng.choice(['Foods', 'Logistics', 'Health', 'Motors', 'Retail', 'Pharma'])} {i}" for i in range(accounts)]
    with (crm / "accounts.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Id", "Name", "Industry", "NumberOfEmployees", "AnnualRevenue", "BillingCountry"])
        for i, name in enumerate(names):
            writer.writerow([f"001B{i:06d}", name, rng.choice(INDUSTRIES), rng.randint(50, 20000),
                             rng.randint(5, 900) * 1_000_000, rng.choice(COUNTRIES)])
    with (crm / "contacts.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Id", "AccountId", "FirstName", "LastName", "Title", "Email"])
        for i in range(contacts):
            writer.writerow([f"003B{i:06d}", f"001B{rng.randrange(accounts):06d}", f"First{i}", f"Last{i}",
                             rng.choice(TITLES), f"person{i}@example.com"])
    with (crm / "opportunities.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Id", "AccountId", "Name", "StageName", "Amount", "CloseDate", "NextStep"])
        for i in range(opportunities):
            writer.writerow([f"006B{i:06d}", f"001B{rng.randrange(accounts):06d}", f"{rng.choice(TOPICS).title()} programme {i}",
                             rng.choice(["Qualification", "Proposal", "Negotiation", "Closed Won"]), rng.randint(20, 900) * 1000,
                             f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", f"Review the {rng.choice(TOPICS)} business case"])
    with (crm / "activities.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Id", "ActivityDate", "Type", "Subject", "Description", "WhoId", "WhatId"])
        for i in range(activities):
            notes = (f"Customer {rng.choice(TRIGGERS)}. Discussed {rng.choice(TOPICS)} and {rng.choice(TOPICS)}; "
                     + " ".join(rng.choice(WORDS) for _ in range(rng.randint(10, 35))) + ".")
            writer.writerow([f"00TB{i:06d}", f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}", rng.choice(TYPES),
                             f"{rng.choice(TOPICS).capitalize()} follow-up", notes, f"003B{rng.randrange(contacts):06d}",
                             f"001B{rng.randrange(accounts):06d}"])
    with (crm / "leads.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Record ID", "First Name", "Last Name", "Job Title", "Company Name", "HubSpot Score",
                         "Number of Pageviews", "Number of Form Submissions", "Original Source"])
        for i in range(leads):
            writer.writerow([f"9{i:07d}", f"Lead{i}", "Person", rng.choice(TITLES), rng.choice(names), rng.randint(1, 99),
                             rng.randint(0, 80), rng.randint(0, 9), rng.choice(["Organic search", "Paid social", "Webinar"])])
    for d in range(documents):
        body = [f"---\ntitle: \"Playbook {d}: {rng.choice(TOPICS)} for {rng.choice(INDUSTRIES)}\"\ntype: playbook\n---\n"]
        for s in range(sections):
            body.append(f"## Section {s}: {rng.choice(TOPICS)}\n")
            body.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(60, 110))) + ".\n")
        (content / f"playbook-{d:04d}.md").write_text("\n".join(body))


def corpus_texts(count: int, seed: int = 11) -> list[str]:
    """Short record-like texts for filling a large store directly."""
    rng = random.Random(seed)
    texts = []
    for i in range(count):
        texts.append(f"{rng.choice(TYPES)} on 2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d} at Account {i % 5000}: "
                     f"customer {rng.choice(TRIGGERS)}; discussed {rng.choice(TOPICS)}. "
                     + " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30))))
    return texts
