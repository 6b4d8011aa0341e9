"""Word lists for the heuristic backend: materials, styles, interest rules, stop words."""

from __future__ import annotations

import re

MATERIALS = (
    "leather", "suede", "cotton", "wool", "cashmere", "silk", "linen", "denim", "nylon",
    "polyester", "fleece", "canvas", "rubber", "silicone", "plastic", "acrylic", "glass",
    "ceramic", "porcelain", "stoneware", "wood", "wooden", "bamboo", "metal", "steel",
    "stainless steel", "aluminum", "aluminium", "copper", "brass", "iron", "gold", "silver",
    "titanium", "carbon fiber", "paper", "cardboard", "foam", "velvet", "mesh", "vinyl",
)

STYLES = (
    "vintage", "retro", "modern", "classic", "minimalist", "rustic", "elegant", "sporty",
    "casual", "luxury", "portable", "compact", "foldable", "wireless", "waterproof",
    "lightweight", "heavy-duty", "handmade", "ergonomic", "adjustable", "rechargeable",
    "digital", "magnetic", "organic", "natural", "professional", "kids", "travel",
)

# (trigger words, interest tag). Triggers match whole words (and simple plurals)
# in title, description, categories and caption; weights favour the title.
INTEREST_RULES = (
    (("headphone", "earbud", "speaker", "audio", "headset", "stereo"), "music and audio listening"),
    (("guitar", "piano", "keyboard instrument", "drum", "violin", "ukulele"), "playing music"),
    (("game", "gaming", "console", "xbox", "playstation", "nintendo", "controller", "wii",
      "ps4", "ps3", "ps2", "gamecube", "joystick"), "video gaming hobby"),
    (("rpg", "fantasy", "quest", "dragon", "emblem"), "story-driven fantasy adventures"),
    (("shooter", "war", "battlefield", "combat", "sniper"), "competitive action play"),
    (("racing", "kart", "speed"), "racing thrills"),
    (("puzzle", "brain", "trivia"), "puzzle solving"),
    (("microscope", "laboratory", "lab", "beaker", "pipette", "flask", "scientific",
      "specimen", "centrifuge", "test tube"), "laboratory science work"),
    (("sanding", "drill", "saw", "wrench", "abrasive", "tool", "clamp", "caliper", "welding",
      "industrial", "screw", "bolt"), "hands-on diy and repair"),
    (("thermometer", "scale", "meter", "gauge", "tester", "measuring", "timer"),
     "precise measurement"),
    (("safety", "glove", "goggles", "respirator", "protective"), "workplace safety"),
    (("yoga", "fitness", "gym", "workout", "exercise", "dumbbell", "treadmill"),
     "active fitness lifestyle"),
    (("running", "runner", "jogging", "sneaker", "marathon"), "running and endurance sports"),
    (("camping", "hiking", "outdoor", "tent", "trail", "backpack", "fishing"),
     "outdoor adventure"),
    (("bike", "bicycle", "cycling"), "cycling"),
    (("kitchen", "cook", "cooking", "bake", "baking", "chef", "pan", "pot", "knife", "mug",
      "cup", "coffee", "tea"), "home cooking and coffee rituals"),
    (("makeup", "lipstick", "mascara", "skin", "skincare", "serum", "moisturizer", "nail",
      "perfume", "fragrance", "beauty", "cosmetic"), "beauty and self-care routine"),
    (("hair", "shampoo", "conditioner", "brush", "comb"), "personal grooming"),
    (("dress", "shirt", "jacket", "coat", "jeans", "shoe", "boot", "scarf", "hat", "fashion",
      "handbag", "bag", "wallet"), "personal style and fashion"),
    (("watch", "jewelry", "necklace", "ring", "bracelet", "earring"),
     "accessorising with jewellery"),
    (("toy", "lego", "doll", "puzzle", "kids", "children", "baby", "toddler"),
     "family time with kids"),
    (("office", "desk", "notebook", "pen", "planner", "stapler", "organizer", "laptop"),
     "productivity-focused lifestyle"),
    (("travel", "luggage", "suitcase", "passport", "portable"), "travel on the go"),
    (("garden", "plant", "seed", "soil", "lawn", "flower"), "gardening"),
    (("dog", "cat", "pet", "aquarium", "leash"), "caring for pets"),
    (("book", "novel", "reading", "kindle"), "reading"),
    (("camera", "lens", "tripod", "photo", "photography"), "photography"),
    (("car", "auto", "automotive", "vehicle", "tire", "motor"), "car care"),
    (("phone", "tablet", "charger", "cable", "usb", "bluetooth", "smart", "wireless"),
     "connected tech gadgets"),
    (("home", "decor", "lamp", "pillow", "curtain", "rug", "candle", "vase"),
     "cosy home decor"),
    (("clean", "cleaner", "vacuum", "mop", "detergent"), "tidy home upkeep"),
    (("health", "vitamin", "supplement", "medical", "first aid"), "health and wellness"),
    (("art", "paint", "craft", "sewing", "knitting", "drawing", "sketch"), "arts and crafts"),
)

STOPWORDS = frozenset(
    "a an the and or of for with in on to by from at as is are be this that these those it its "
    "your you our we new set pack pcs piece pieces inch inches oz lb mm cm ml x w h size model "
    "edition version black white red blue green yellow gray grey pink purple orange brown "
    "item product one two three 1 2 3 4 5 6 7 8 9 10 per each includes include".split())

_WORD = re.compile(r"[a-z][a-z0-9']*")


def words(text: str) -> list[str]:
  """Lower-case word tokens."""
  return _WORD.findall((text or "").lower())


def _stem(word: str) -> str:
  """Simple plural stripping ("mugs" -> "mug", "boxes" -> "box"), as used for matching."""
  if len(word) > 4 and word.endswith("es") and word[-3] in "sxz":
    return word[:-2]
  if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
    return word[:-1]
  return word


def index(text_words: list[str], max_n: int = 3) -> frozenset[str]:
  """All 1..max_n-grams of the (plural-stripped) words, for phrase lookups."""
  stems = [_stem(w) for w in text_words]
  return frozenset(" ".join(stems[i:i + n]) for n in range(1, max_n + 1)
                   for i in range(len(stems) - n + 1))


def _phrase_key(phrase: str) -> str:
  return " ".join(_stem(w) for w in phrase.replace("-", " ").split())


def has(grams: frozenset[str], phrase: str) -> bool:
  """Whole-word (or simple plural) match of a phrase of up to 3 words in an `index`."""
  return _phrase_key(phrase) in grams


def contains(text_words: list[str], phrase: str) -> bool:
  """Whole-word (or simple plural) match of a one- or multi-word phrase."""
  return has(index(text_words, len(phrase.replace("-", " ").split())), phrase)


def found(text: str, vocabulary: tuple[str, ...]) -> list[str]:
  """Entries of `vocabulary` present in `text`, in vocabulary order."""
  grams = index(words(text))
  hits = [v for v in vocabulary if has(grams, v)]
  return [v for v in hits if not any(v != o and v in o.split() for o in hits)]
