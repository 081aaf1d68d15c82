"""Domains for cognition attribution: MMLU's 57 subjects in 13 domains, so a per-domain table has rows of a
readable size (a subject has 100 to 1,500 questions; MMLU's 4 categories are too coarse to show where
reasoning helps). The grouping follows MMLU's own subcategories, merged to 13; the paper's exact table is
not published with its prompts, so its per-domain figures are comparable in kind, not row for row."""

from __future__ import annotations

MMLU_DOMAINS: dict[str, tuple[str, ...]] = {
    "Mathematics": ("abstract_algebra", "college_mathematics", "elementary_mathematics", "high_school_mathematics",
                    "high_school_statistics"),
    "Physics": ("astronomy", "college_physics", "conceptual_physics", "high_school_physics"),
    "Chemistry": ("college_chemistry", "high_school_chemistry"),
    "Biology": ("college_biology", "high_school_biology"),
    "Medicine": ("anatomy", "clinical_knowledge", "college_medicine", "human_aging", "medical_genetics", "nutrition",
                 "professional_medicine", "virology"),
    "Computer Science & Engineering": ("college_computer_science", "computer_security", "electrical_engineering",
                                       "high_school_computer_science", "machine_learning"),
    "Economics & Business": ("econometrics", "high_school_macroeconomics", "high_school_microeconomics",
                             "management", "marketing", "professional_accounting"),
    "Law": ("international_law", "jurisprudence", "professional_law"),
    "Philosophy & Ethics": ("business_ethics", "formal_logic", "logical_fallacies", "moral_disputes",
                            "moral_scenarios", "philosophy", "world_religions"),
    "History": ("high_school_european_history", "high_school_us_history", "high_school_world_history",
                "prehistory"),
    "Political Science": ("high_school_government_and_politics", "security_studies", "us_foreign_policy"),
    "Psychology & Sociology": ("high_school_psychology", "human_sexuality", "professional_psychology",
                               "public_relations", "sociology"),
    "Geography & General Knowledge": ("global_facts", "high_school_geography", "miscellaneous"),
}
"""Domain -> the MMLU subjects (`cais/mmlu`'s `subject` column) it holds."""

DOMAIN_MAPS: dict[str, dict[str, str]] = {
    "mmlu": {subject: domain for domain, subjects in MMLU_DOMAINS.items() for subject in subjects},
}
"""Shipped maps by name (`domains: mmlu`): a row's `domain_field` value -> the domain it is reported under."""
