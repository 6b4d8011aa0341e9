"""Vocabulary of the synthetic catalog and vectorised rendering of titles and descriptions."""

from __future__ import annotations

import itertools

import numpy as np

# department -> (image shape, [(category, nouns, uses), ...]); 4 categories per department.
DEPARTMENTS = {
    "Kitchen": ("circle", [
        ("Cookware", ["frying pan", "saucepan", "skillet"],
         ["sears, simmers and sautes evenly", "heats quickly for everyday cooking",
          "handles weeknight dinners and weekend feasts"]),
        ("Knives", ["chef's knife", "paring knife", "bread knife"],
         ["keeps a keen edge through daily prep", "slices, dices and minces with control",
          "is balanced for precise cutting"]),
        ("Cutting Boards", ["cutting board", "chopping block", "carving board"],
         ["gives knives a forgiving surface", "doubles as a serving platter",
          "keeps prep work tidy"]),
        ("Food Storage", ["storage container set", "lunch box", "meal prep container"],
         ["keeps leftovers fresh", "stacks neatly in the fridge", "seals tight for meal prep"])]),
    "Outdoor": ("triangle", [
        ("Tents", ["dome tent", "backpacking tent", "camping shelter"],
         ["pitches in minutes at the campsite", "stands up to wind and rain",
          "sleeps two with room for gear"]),
        ("Sleeping Bags", ["sleeping bag", "mummy bag", "camp quilt"],
         ["keeps you warm on cold nights", "packs down small for the trail",
          "zips open into a blanket"]),
        ("Backpacks", ["hiking backpack", "daypack", "trekking pack"],
         ["carries a full day of gear", "has a padded hip belt for long hikes",
          "organises essentials in many pockets"]),
        ("Water Bottles", ["water bottle", "insulated flask", "hydration bottle"],
         ["keeps drinks cold for hours", "fits standard cup holders", "never leaks in a bag"])]),
    "Fitness": ("diamond", [
        ("Running Shoes", ["running shoes", "trail runners", "road racing shoes"],
         ["cushions every stride", "grips on wet pavement", "is built for long miles"]),
        ("Athletic Socks", ["athletic socks", "running socks", "training socks"],
         ["wicks moisture during workouts", "prevents blisters on long runs",
          "adds arch support and cushioning"]),
        ("Yoga Mats", ["yoga mat", "exercise mat", "pilates mat"],
         ["cushions joints during floor work", "stays put on hardwood floors",
          "rolls up for the studio"]),
        ("Resistance Bands", ["resistance band set", "loop band kit", "training band"],
         ["adds tension to any workout", "travels anywhere for strength training",
          "helps with rehab and mobility"])]),
    "Office": ("square", [
        ("Notebooks", ["notebook", "journal", "planner"],
         ["lies flat for easy writing", "keeps notes and plans together",
          "has thick pages that resist bleed-through"]),
        ("Pens", ["gel pen set", "fountain pen", "ballpoint pen"],
         ["writes smoothly without skipping", "dries fast to avoid smudges",
          "feels comfortable in long meetings"]),
        ("Desk Lamps", ["desk lamp", "reading lamp", "task light"],
         ["lights the workspace without glare", "bends to aim light where needed",
          "dims for late evenings"]),
        ("Desk Organizers", ["desk organizer", "file sorter", "pen caddy"],
         ["clears clutter from the desk", "keeps supplies within reach",
          "sorts papers and mail"])]),
    "Home": ("hexagon", [
        ("Throw Pillows", ["throw pillow", "cushion cover", "accent pillow"],
         ["adds comfort to any sofa", "refreshes a reading nook", "softens a bedroom"]),
        ("Blankets", ["throw blanket", "bed blanket", "knit throw"],
         ["keeps you cozy on the couch", "layers over a bed on cold nights",
          "is soft enough for movie nights"]),
        ("Vases", ["flower vase", "bud vase", "table vase"],
         ["shows off fresh or dried stems", "anchors a dining table centrepiece",
          "livens up a shelf"]),
        ("Candles", ["scented candle", "pillar candle", "candle set"],
         ["fills the room with a calm scent", "burns cleanly for hours", "sets a relaxed mood"])]),
    "Electronics": ("star", [
        ("Headphones", ["wireless headphones", "earbuds", "over-ear headphones"],
         ["blocks out background noise", "lasts all day on a charge",
          "delivers rich, detailed sound"]),
        ("Phone Cases", ["phone case", "protective case", "slim phone cover"],
         ["absorbs drops and bumps", "keeps the phone slim", "protects the screen edges"]),
        ("Chargers", ["fast charger", "charging stand", "power bank"],
         ["tops up devices quickly", "charges two devices at once", "travels easily in a bag"]),
        ("Laptop Sleeves", ["laptop sleeve", "laptop bag", "tablet sleeve"],
         ["shields a laptop from scratches", "slips into a backpack",
          "has a pocket for cables"])]),
}
DEPARTMENT_NAMES = list(DEPARTMENTS)
SHAPES = [DEPARTMENTS[d][0] for d in DEPARTMENT_NAMES]
CATEGORY_NAMES = [c[0] for d in DEPARTMENT_NAMES for c in DEPARTMENTS[d][1]]
CATEGORY_DEPARTMENT = np.repeat(np.arange(len(DEPARTMENTS)), 4)
# category -> (primary, secondary) complementary category: what tends to be bought next.
COMPLEMENTS = {
    "Cookware": ("Knives", "Food Storage"), "Knives": ("Cutting Boards", "Cookware"),
    "Cutting Boards": ("Knives", "Food Storage"), "Food Storage": ("Water Bottles", "Cookware"),
    "Tents": ("Sleeping Bags", "Backpacks"), "Sleeping Bags": ("Tents", "Backpacks"),
    "Backpacks": ("Water Bottles", "Laptop Sleeves"),
    "Water Bottles": ("Backpacks", "Running Shoes"),
    "Running Shoes": ("Athletic Socks", "Water Bottles"),
    "Athletic Socks": ("Running Shoes", "Resistance Bands"),
    "Yoga Mats": ("Resistance Bands", "Water Bottles"),
    "Resistance Bands": ("Yoga Mats", "Athletic Socks"),
    "Notebooks": ("Pens", "Desk Organizers"), "Pens": ("Notebooks", "Desk Organizers"),
    "Desk Lamps": ("Desk Organizers", "Notebooks"), "Desk Organizers": ("Desk Lamps", "Pens"),
    "Throw Pillows": ("Blankets", "Candles"), "Blankets": ("Throw Pillows", "Candles"),
    "Vases": ("Candles", "Throw Pillows"), "Candles": ("Vases", "Blankets"),
    "Headphones": ("Chargers", "Phone Cases"), "Phone Cases": ("Chargers", "Headphones"),
    "Chargers": ("Phone Cases", "Laptop Sleeves"), "Laptop Sleeves": ("Headphones", "Chargers"),
}
# style -> (synonyms, sentence tail). Shared: the image draws a style-specific background/frame.
STYLES = {
    "classic": (["classic", "timeless", "traditional"], "never goes out of fashion"),
    "modern": (["modern", "contemporary", "sleek"], "fits a clean, up-to-date space"),
    "sporty": (["sporty", "dynamic", "active"], "keeps up with an active life"),
    "vintage": (["vintage", "retro", "heritage"], "recalls an earlier era"),
    "minimalist": (["minimalist", "simple", "understated"], "strips away everything unnecessary"),
    "rustic": (["rustic", "handcrafted", "artisan"], "feels warm and handmade"),
}
STYLE_NAMES = list(STYLES)
# Image-only factors (never written in text). RGB of each colour is in synthetic_images.
COLOUR_NAMES = ["red", "orange", "yellow", "green", "teal", "blue", "purple", "pink", "brown",
                "black"]
COLOUR_PRIOR = np.array([10, 6, 6, 9, 5, 12, 6, 7, 8, 13], np.float64)
PATTERN_NAMES = ["solid", "stripes", "diagonal", "dots", "grid", "waves"]
# Text-only factors.
AUDIENCES = {  # audience -> (title prefix, sentences)
    "kids": ("Kids' ", ["Sized and built for kids.",
                        "Made for children and safe for young hands."]),
    "women": ("Women's ", ["Designed for women.", "Cut and sized for women."]),
    "men": ("Men's ", ["Designed for men.", "Sized for men."]),
    "everyone": ("", ["A unisex pick for the whole family.", "Works for anyone in the household."]),
    "professionals": ("Professional ", ["Built for professionals who use it every day.",
                               "Trusted by professionals on the job."]),
}
AUDIENCE_NAMES = list(AUDIENCES)
# category -> its three possible materials (text-only factor).
CATEGORY_MATERIALS = [
    ["stainless steel", "cast iron", "ceramic"], ["stainless steel", "carbon steel", "ceramic"],
    ["bamboo", "oak", "recycled plastic"], ["glass", "silicone", "recycled plastic"],
    ["nylon", "polyester", "canvas"], ["down", "polyester", "nylon"],
    ["nylon", "canvas", "polyester"], ["stainless steel", "aluminium", "recycled plastic"],
    ["mesh", "knit fabric", "foam"], ["cotton", "merino wool", "nylon"],
    ["rubber", "cork", "foam"], ["rubber", "latex", "woven fabric"],
    ["recycled paper", "leather", "cork"], ["aluminium", "brass", "recycled plastic"],
    ["aluminium", "oak", "ceramic"], ["bamboo", "mesh", "oak"],
    ["cotton", "linen", "velvet"], ["merino wool", "cotton", "fleece"],
    ["ceramic", "glass", "stoneware"], ["soy wax", "beeswax", "coconut wax"],
    ["aluminium", "recycled plastic", "leather"], ["silicone", "leather", "recycled plastic"],
    ["aluminium", "recycled plastic", "silicone"], ["neoprene", "leather", "canvas"],
]
MATERIAL_NAMES = list(dict.fromkeys(m for ms in CATEGORY_MATERIALS for m in ms))
CATEGORY_MATERIAL_CODES = np.array([[MATERIAL_NAMES.index(m) for m in ms]
                                    for ms in CATEGORY_MATERIALS])
TIERS = {  # tier -> (title prefixes, sentences)
    "budget": (["", "Essentials ", "Value "],
               ["An affordable choice that does the job.", "Great value for the price."]),
    "mid-range": (["", "", "Everyday "],
                  ["Balanced quality at a fair price.",
                   "A well-made option that will not break the bank."]),
    "premium": (["Premium ", "Pro Series ", ""],
                ["Premium quality with careful finishing.", "A premium upgrade built to last."]),
    "luxury": (["Signature ", "Luxe ", "Reserve "],
               ["A luxury piece with exceptional finishing.", "Top-of-the-line craftsmanship."]),
}
TIER_NAMES = list(TIERS)
MATERIAL_SENTENCES = ["Made from {m}.", "Crafted in durable {m}.",
                      "Its {m} build holds up to daily use."]
STYLE_SENTENCES = ["{a} {s} design that {t}.", "The {s} look {t}.", "{S} styling that {t}."]
USE_SENTENCES = ["This {n} {u}.", "{a} {n} that {u}.", "Our {n} {u}."]
PLURAL_NOUNS = ("shoes", "runners", "socks", "headphones", "earbuds")

# Title templates over (brand, model code, noun, style word, material, audience prefix,
# audience, tier word); all words capitalised.
TITLE_TEMPLATES = ["{0} {7}{3} {4} {2}", "{5}{3} {2} by {0}", "{0} {2} - {3}, {4}, {1}",
                   "{7}{2} for {6} | {0} {1}", "{0} {1} {3} {4} {2}"]

# Words no title/description may contain (image-only factors stay out of the text).
IMAGE_ONLY_WORDS = COLOUR_NAMES + ["white", "grey", "gray", "navy", "crimson", "golden", "gold",
                                   "silver", "beige", "violet", "scarlet", "colour", "color",
                                   "solid", "stripe", "stripes", "striped", "diagonal", "dots",
                                   "dotted", "polka", "grid", "plaid", "checked", "wave", "waves",
                                   "wavy", "pattern", "patterned"]


def _cap(phrase: str) -> str:
  return " ".join(w[:1].upper() + w[1:] for w in phrase.split(" "))


def _article(phrase: str) -> str:
  return "An" if phrase[0] in "aeiou" else "A"


def _singular(noun: str) -> str:
  """'running shoes' -> 'pair of running shoes', so 'This/A/Our ...' agrees with the verb."""
  return "pair of " + noun if noun.endswith(PLURAL_NOUNS) else noun


def obj_array(strings) -> np.ndarray:
  """1-D numpy object array of Python strings (fancy-indexable phrase table)."""
  out = np.empty(len(strings), object)
  out[:] = list(strings)
  return out


def _brand_names() -> list[str]:
  """48 made-up brand names (8 per department), the same for every seed."""
  rng = np.random.default_rng(20240611)
  first = ["Nor", "Al", "Ves", "Tam", "Kel", "Bri", "Mar", "Ov", "Zen", "Cor", "Lum", "Hal",
           "Sol", "Tor", "Ev", "Quin", "Dal", "Fen", "Ro", "Ash"]
  last = ["vik", "dera", "tro", "bury", "ix", "stone", "wick", "mont", "ora", "field", "haven",
          "ley", "ton", "ara", "crest", "ford"]
  names: list[str] = []
  while len(names) < 48:
    name = first[rng.integers(len(first))] + last[rng.integers(len(last))]
    if name not in names:
      names.append(name)
  return names


BRAND_NAMES = _brand_names()  # brand b belongs to department b // 8 with price tier (b % 8) // 2.


def render_texts(rng: np.random.Generator,
                 codes: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
  """(titles, descriptions) [N] object arrays from the factor codes and phrase tables."""
  n = len(codes["category"])
  cat, style, aud, mat, tier = (
      codes[k] for k in ("category", "style", "audience", "material", "price_tier"))
  noun_i, use_i, syn_i, var_i = (rng.integers(0, k, n) for k in (3, 3, 3, 2))
  cats = [c for d in DEPARTMENT_NAMES for c in DEPARTMENTS[d][1]]
  nouns = [c[1][j] for c in cats for j in range(3)]  # [category * 3 + j]
  syns = [STYLES[s][0][j] for s in STYLE_NAMES for j in range(3)]  # [style * 3 + j]
  # One phrase table per sentence slot, indexed by value * variants + variant.
  use_tab = obj_array([
      t.format(n=_singular(noun), a=_article(_singular(noun)), u=use)
      for c in cats for noun in c[1][:3] for use in c[2] for t in USE_SENTENCES])
  use_s = use_tab[((cat * 3 + noun_i) * 3 + use_i) * 3 + rng.integers(0, 3, n)]
  style_tab = obj_array([
      t.format(s=syn, a=_article(syn), S=syn.capitalize(), t=STYLES[s][1])
      for s in STYLE_NAMES for syn in STYLES[s][0] for t in STYLE_SENTENCES])
  style_s = style_tab[(style * 3 + syn_i) * 3 + rng.integers(0, 3, n)]
  mat_tab = obj_array([t.format(m=m) for m in MATERIAL_NAMES for t in MATERIAL_SENTENCES])
  mat_s = mat_tab[mat * 3 + rng.integers(0, 3, n)]
  aud_s = obj_array([s for a in AUDIENCE_NAMES for s in AUDIENCES[a][1]])[aud * 2 + var_i]
  tier_tab = obj_array([s for t in TIER_NAMES for s in TIERS[t][1]])
  tier_s = tier_tab[tier * 2 + rng.integers(0, 2, n)]
  # Strings are joined over lists (several times faster than object-array `+`).
  desc = np.empty(n, object)
  order = rng.integers(0, 3, n)
  for o, parts in enumerate([(use_s, style_s, mat_s, aud_s, tier_s),
                             (use_s, mat_s, tier_s, style_s, aud_s),
                             (style_s, use_s, aud_s, mat_s, tier_s)]):
    m = np.flatnonzero(order == o)
    desc[m] = list(map(" ".join, zip(*(p[m].tolist() for p in parts))))
  letters = obj_array(list("ABCDEFGHJKLMNPRSTVXZ"))
  model_code = obj_array([
      f"{a}{b}-{k}" for a, b, k in zip(letters[rng.integers(0, 20, n)].tolist(),
                                       letters[rng.integers(0, 20, n)].tolist(),
                                       rng.integers(100, 1000, n).tolist())])
  fields = (  # In the order TITLE_TEMPLATES numbers them.
      obj_array(BRAND_NAMES)[codes["brand"]], model_code,
      obj_array([_cap(x) for x in nouns])[cat * 3 + noun_i],
      obj_array([_cap(x) for x in syns])[style * 3 + syn_i],
      obj_array([_cap(x) for x in MATERIAL_NAMES])[mat],
      obj_array([AUDIENCES[a][0] for a in AUDIENCE_NAMES])[aud],
      obj_array(["Kids", "Women", "Men", "Everyone", "Professionals"])[aud],
      obj_array([p for t in TIER_NAMES for p in TIERS[t][0]])[tier * 3 + rng.integers(0, 3, n)])
  title = np.empty(n, object)
  template = rng.integers(0, len(TITLE_TEMPLATES), n)
  for t, fmt in enumerate(TITLE_TEMPLATES):
    m = np.flatnonzero(template == t)
    title[m] = list(itertools.starmap(fmt.format, zip(*(x[m].tolist() for x in fields))))
  return title, desc
