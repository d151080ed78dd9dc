"""The demo store's product taxonomy: categories assigned by rules over the whole description.

Each rule names a category, a priority and the phrases that put a product in it. Every
phrase found in a description (as whole words; a word also matches its plural) is a
candidate; the candidate of the highest priority wins, of equals the longer phrase, then
the rule listed first. So "HAND WARMER RED LOVE HEART" is an accessory (the phrase "hand
warmer" outranks the decorative "heart"), "CHRISTMAS CANDLE" is Christmas (a season outranks
what a product is) and "RED RETROSPOT LUNCH BAG" is a bag. Priorities, in bands:

* 90: seasons and occasions (Christmas, Easter, Halloween) and the few phrases that
  must beat them (an advent calendar is Christmas either way);
* 70: phrases of two or more words naming a kind of product ("hot water bottle");
* 50: nouns naming a kind of product ("mug", "necklace");
* 20: words that only hint at one ("vintage" says nothing, "lace" hints at textiles).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

OTHER = "Other"

SEASON = 90
PHRASE = 70
NOUN = 50
HINT = 20


@dataclass(frozen=True)
class Rule:
    """Phrases (separated by commas) that put a product in ``category`` at ``priority``."""

    category: str
    priority: int
    phrases: str


RULES: tuple[Rule, ...] = (
    Rule(
        "Christmas",
        SEASON,
        "christmas, xmas, advent, santa, reindeer, snowman, snowflake, nativity, bauble,"
        " father christmas, christmas tree, jingle, elf, noel, stocking, mistletoe, holly,"
        " gingerbread, star of bethlehem, tinsel, sleigh",
    ),
    Rule(
        "Easter & Party",
        SEASON,
        "easter, halloween, hen house, easter egg, easter chick",
    ),
    Rule(
        "Easter & Party",
        NOUN,
        "chick, party, birthday, bunting, balloon, confetti, wedding, celebration,"
        " fancy dress, party bag, pinata, paper chain, cake candles",
    ),
    Rule(
        "Bags & Purses",
        NOUN,
        "bag, tote, shopper, purse, rucksack, backpack, handbag, wash bag, toiletry bag,"
        " shopping bag, jumbo bag, lunch bag, charlotte bag, gym bag, suitcase, luggage tag,"
        " coin purse, wallet, washbag",
    ),
    Rule(
        "Jewellery",
        NOUN,
        "necklace, bracelet, earrings, earring, brooch, charm, bead, beads, pendant, bangle,"
        " ring, diamante, jewellery, jewelry, choker, hair clip, hair slide, hairclip,"
        " hair band, hair comb, hair grip, hair tie, tiara, crown, anklet, cufflinks, lariat",
    ),
    Rule(
        "Accessories",
        NOUN,
        "umbrella, scarf, glove, gloves, hat, keyring, key ring, hand warmer, pocket warmer,"
        " mitten, sunglasses, phone charm, phone case, passport cover, card holder, mirror"
        " compact, compact mirror, fan, parasol, snood, slipper, slippers, sock, socks, poncho,"
        " key fob, badge, badges, patch, patches",
    ),
    Rule(
        "Candles & Lighting",
        NOUN,
        "candle, candles, t-light, tlight, tealight, tea light, lantern, lamp, lamps, light,"
        " lights, nightlight, night light, fairy lights, light chain, incense, oil burner,"
        " chandelier, torch, led, candlestick, candle holder, candle pot, votive, lampshade,"
        " candleholder, candlestand, lightbulb",
    ),
    Rule(
        "Cards & Gift Wrap",
        NOUN,
        "card, cards, greeting card, wrap, wrapping paper, gift wrap, gift tag, tag, tags,"
        " ribbon, ribbons, envelope, tissue, tissues, gift box, gift bag, gift voucher,"
        " paper chain kit, cellophane",
    ),
    Rule(
        "Stationery",
        NOUN,
        "notebook, pen, pens, pencil, pencils, eraser, rubber, ruler, sticker, stickers,"
        " journal, notepad, diary, calendar, stationery, crayon, crayons, chalk, sharpener,"
        " memo, memo board, note book, writing set, letter writing, address book,"
        " photo album, scrapbook, book mark, bookmark, book cover, writing paper, paperweight,"
        " clipboard, tape, glitter, sketchbook, scrap book, pocket book",
    ),
    Rule(
        "Kitchen & Baking",
        NOUN,
        "kitchen, baking, cake, cakestand, cake stand, cake tin, cake cases, cupcake,"
        " muffin, pastry, biscuit, cookie cutter, apron, oven glove, tea towel, jam, jar,"
        " recipe, pantry, lunch box, mould, scales, measuring, spoons, cutlery, chopping board,"
        " rolling pin, sugar, salt, pepper, grinder, utensil, whisk, colander, kitchen timer,"
        " bread bin, storage tin, sweetie jar, ice lolly, lolly moulds, jelly moulds,"
        " food cover, cosy, tea cosy, egg timer, pan, bottle opener, corkscrew",
    ),
    Rule(
        "Tableware",
        NOUN,
        "mug, mugs, cup, cups, teacup, saucer, plate, plates, bowl, bowls, teapot, jug,"
        " wine glass, tumbler, beaker, tray, napkin, napkins, coaster, coasters, dish,"
        " egg cup, milk jug, cake plate, cake stand, tea set, dinner set, placemat,"
        " place mat, straw, straws, cruet, butter dish, drinking, tableware, doily, doilies,"
        " platter",
    ),
    Rule(
        "Toys & Games",
        NOUN,
        "toy, toys, game, games, puzzle, jigsaw, doll, dolls, dolly, skipping rope,"
        " spinning top, playhouse, dominoes, bingo, ball, teddy, colouring, soldier, soldiers,"
        " marbles, kite, yo-yo, snakes and ladders, tea party set, play, puppet, finger puppet,"
        " rocking horse, spaceboy, robot, water pistol, bubbles, magic, snap cards,"
        " harmonica, money box, piggy bank, skittles, frisbee, tattoos, ludo, cards game,"
        " jack in the box, soft toy, baby, childrens, children's, kids, helicopter, dinosaur",
    ),
    Rule(
        "Crafts & Sewing",
        NOUN,
        "sewing, craft, crafts, knitting, button, buttons, feltcraft, crochet,"
        " embroidery, needle, thread, scissors, stencil, decoupage, paint set, craft kit,"
        " origami, tape measure, pin cushion, yarn, wool, haberdashery, sequins, beading",
    ),
    Rule(
        "Garden & Outdoors",
        NOUN,
        "garden, plant, plants, planter, plant pot, flower pot, watering can, bird house,"
        " birdhouse, bird feeder, bird table, feeder, gnome, trowel, seed, seeds, picnic,"
        " deckchair, windmill, wind chime, windchime, hammock, outdoor, patio, herb marker,"
        " garden marker, bug house, insect house, greenhouse, toadstool, mushroom",
    ),
    Rule(
        "Home Decor",
        NOUN,
        "frame, photo frame, picture frame, clock, alarm clock, sign, plaque, mirror, wreath,"
        " vase, ornament, decoration, garland, wall art, wall sticker, doorstop, door stop,"
        " doormat, door mat, hook, hooks, coat rack, hanger, chime, magnet, magnets,"
        " chandelier, wall tidy, letter rack, key cabinet, door knob, knob, sculpture,"
        " figurine, statue, mobile, dreamcatcher, bell, bells, flowers, artificial flower,"
        " lavender, pot pourri, diffuser, room spray, tile, heart, wall, doorsign, screen,"
        " fragrance oil",
    ),
    Rule(
        "Storage & Organisation",
        NOUN,
        "storage, basket, baskets, drawer, drawers, cabinet, shelf, box, boxes, trinket box,"
        " tin, tins, crate, chest, bin, hamper, caddy, organiser, tidy, holder, rack, case,"
        " cases, jewellery box, trunk, suitcase set, filing",
    ),
    Rule(
        "Textiles & Bathroom",
        NOUN,
        "cushion, cushion cover, throw, blanket, hot water bottle, quilt, tablecloth,"
        " bathroom, bath, soap, towel, flannel, washing, laundry, peg, pegs, toilet,"
        " shower, sponge, tissue box, lip gloss, nail, manicure, cosmetic, make up,"
        " beauty, lotion, balm, pillow, bedspread, curtain, rug, mat",
    ),
    # Hints: words of a style or material that say little alone.
    Rule("Home Decor", HINT, "vintage, retro, shabby, decorative, hanging, antique"),
    Rule("Textiles & Bathroom", HINT, "lace, cotton, linen, gingham, knitted"),
    Rule("Tableware", HINT, "ceramic, porcelain, enamel, china, melamine, glass"),
    Rule("Crafts & Sewing", HINT, "felt"),
    Rule("Stationery", HINT, "paper, office, school, letter"),
    Rule("Kitchen & Baking", HINT, "tea, coffee, chocolate, sweet, sweets, food, cook"),
    # Phrases that must beat a season or a stronger noun in their own words.
    Rule("Christmas", SEASON + 5, "advent calendar, christmas card, christmas cards"),
    Rule(
        "Accessories",
        PHRASE,
        "hand warmer, pocket warmer, key ring, hair clip, sun glasses, mirror compact",
    ),
    Rule(
        "Kitchen & Baking",
        PHRASE,
        "cake cases, cake tin, lunch box, tea towel, oven glove, egg warmer, mug warmer,"
        " storage jar, storage tin, biscuit tin, baking set, cookie cutter, jelly mould,"
        " ice cube tray, cake stand, cakestand",
    ),
    Rule("Bags & Purses", PHRASE, "lunch bag, wash bag, shopping bag, jumbo bag"),
    Rule("Accessories", PHRASE, "bag charm, phone charm"),
    Rule("Tableware", PHRASE, "napkin ring, napkin rings, glass bowl"),
    Rule("Storage & Organisation", PHRASE, "jewellery box, jewellery drawer, key cabinet"),
    Rule(
        "Candles & Lighting",
        PHRASE,
        "t-light holder, tealight holder, candle holder, night light, fairy lights,"
        " string lights, light garland",
    ),
    Rule(
        "Cards & Gift Wrap",
        PHRASE,
        "gift wrap, wrapping paper, gift tag, gift bag, gift box, birthday card, greeting card,"
        " wedding card, easter card",
    ),
    Rule("Textiles & Bathroom", PHRASE, "hot water bottle, cushion cover, bath salts, tea cosy"),
    Rule("Garden & Outdoors", PHRASE, "watering can, plant pot, bird house, bird feeder"),
    Rule("Home Decor", PHRASE, "photo frame, picture frame, wall art, door sign, doorstop"),
    Rule("Toys & Games", PHRASE, "money box, piggy bank, skipping rope, spinning top"),
    Rule("Stationery", PHRASE, "photo album, address book, memo board, note book"),
)

CATEGORIES: tuple[str, ...] = (*dict.fromkeys(rule.category for rule in RULES), OTHER)

_WORD = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")
MAX_PHRASE_WORDS = 4


def words_of(text: str) -> list[str]:
    """The lower-case words of ``text`` ("T-LIGHT" and "50'S" stay one word each)."""
    return _WORD.findall(text.lower())


def singular(word: str) -> str:
    """A word without a plural ending, so "hearts" and "boxes" match "heart" and "box"."""
    if len(word) > 4 and word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "mas", "'s")):
        return word[:-1]
    return word


def _phrase_key(phrase: str) -> tuple[str, ...]:
    return tuple(singular(word) for word in words_of(phrase))


@lru_cache(maxsize=1)
def _phrase_table() -> dict[tuple[str, ...], tuple[int, int, str]]:
    """Phrase (singular words) -> (priority, -rule index, category); the best rule kept."""
    table: dict[tuple[str, ...], tuple[int, int, str]] = {}
    for index, rule in enumerate(RULES):
        for phrase in rule.phrases.split(","):
            key = _phrase_key(phrase)
            if not key or len(key) > MAX_PHRASE_WORDS:
                raise ValueError(f"rule {rule.category!r}: bad phrase {phrase!r}")
            candidate = (rule.priority, -index, rule.category)
            if key not in table or candidate[:2] > table[key][:2]:
                table[key] = candidate
    return table


def _ngrams(words: list[str]) -> Iterable[tuple[str, ...]]:
    for size in range(1, MAX_PHRASE_WORDS + 1):
        for start in range(len(words) - size + 1):
            yield tuple(words[start : start + size])


def category_for_text(text: str) -> str:
    """The category of a product described by ``text`` (name and description), or "Other"."""
    table = _phrase_table()
    words = [singular(word) for word in words_of(text)]
    best: tuple[int, int, int, str] | None = None
    for key in _ngrams(words):
        found = table.get(key)
        if found is not None:
            priority, order, category = found
            candidate = (priority, len(key), order, category)
            if best is None or candidate[:3] > best[:3]:
                best = candidate
    return best[3] if best else OTHER


def product_description(*, name: str, category: str, sku: str) -> str:
    """The catalogue text the importer writes for a product (the data set has none)."""
    return f"{name}, from the {category.lower()} range (stock code {sku})."
