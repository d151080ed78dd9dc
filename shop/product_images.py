"""A drawn picture for every product: an SVG built from its category and its description.

The data set has no photographs, so each product gets an illustration: the object its
category and words name (a mug, a bag, a candle holder, a necklace...), in the colours its
description names ("red", "ivory", "pink"...), carrying the motif it names ("heart",
"union jack", "polkadot", "bird"...). "White hanging heart t-light holder" is a white
candle holder with a heart; "red retrospot lunch bag" a red bag with white dots.

The picture depends on the name and the category only, so it is the same for everyone
and cached by browsers (see ``views.product_image``); nothing in it is text from the
database, only shapes and colours from the tables below.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from functools import lru_cache
from itertools import pairwise

from shop.taxonomy import singular, words_of

# Bump when the drawing changes, so browsers fetch the new pictures (it is in the ETag).
DRAWING_VERSION = "1"
SIZE = 200

COLOURS: dict[str, str] = {
    "red": "#d2423c",
    "pink": "#ef8fb1",
    "rose": "#e36f8f",
    "blue": "#3f76c0",
    "navy": "#28406e",
    "turquoise": "#35b0a6",
    "aqua": "#5cc6d0",
    "green": "#4f9a5f",
    "mint": "#8fd3b6",
    "yellow": "#f2c744",
    "orange": "#ec8535",
    "purple": "#8a63b5",
    "lilac": "#b89ad6",
    "lavender": "#a38fd0",
    "black": "#2c2c30",
    "white": "#fbfaf7",
    "ivory": "#f4edd9",
    "cream": "#efe2bf",
    "silver": "#b8bec6",
    "zinc": "#9aa4ab",
    "gold": "#d3a937",
    "brown": "#8a5a3b",
    "choc": "#6b4030",
    "chocolate": "#6b4030",
    "grey": "#8d949b",
    "gray": "#8d949b",
    "amber": "#e09a2f",
    "copper": "#b8693d",
    "jade": "#3f9c7c",
    "teal": "#2f8b8f",
    "natural": "#d8c39a",
    "wooden": "#b98a57",
    "wood": "#b98a57",
    "antique": "#c9b48a",
}
# Colours of a category when its products name none.
CATEGORY_COLOURS: dict[str, tuple[str, str]] = {
    "Christmas": ("#c23b3b", "#2f7a4a"),
    "Easter & Party": ("#f2c744", "#ef8fb1"),
    "Bags & Purses": ("#d98a4a", "#f4edd9"),
    "Jewellery": ("#b8bec6", "#8a63b5"),
    "Accessories": ("#3f76c0", "#f2c744"),
    "Candles & Lighting": ("#f4edd9", "#e09a2f"),
    "Cards & Gift Wrap": ("#ef8fb1", "#3f76c0"),
    "Stationery": ("#35b0a6", "#f2c744"),
    "Kitchen & Baking": ("#efe2bf", "#d2423c"),
    "Tableware": ("#fbfaf7", "#3f76c0"),
    "Toys & Games": ("#ec8535", "#3f76c0"),
    "Crafts & Sewing": ("#8a63b5", "#f2c744"),
    "Garden & Outdoors": ("#4f9a5f", "#b8693d"),
    "Home Decor": ("#c9b48a", "#d2423c"),
    "Storage & Organisation": ("#9aa4ab", "#f4edd9"),
    "Textiles & Bathroom": ("#8fd3b6", "#fbfaf7"),
}
DEFAULT_COLOURS = ("#9aa4ab", "#ef8fb1")
LIGHT = frozenset({"#fbfaf7", "#f4edd9", "#efe2bf"})


def _mix(colour: str, other: str, share: float) -> str:
    """``colour`` moved ``share`` of the way to ``other`` (both #rrggbb)."""
    a = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    b = [int(other[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * share):02x}" for x, y in zip(a, b, strict=True))


# --- Motifs: drawn centred at (x, y) within a radius r. -----------------------------------


def _heart(x: float, y: float, r: float, colour: str) -> str:
    return (
        f'<path d="M{x},{y + r * 0.9} C{x - r * 1.3},{y + r * 0.05} {x - r * 0.75},{y - r * 1.05}'
        f" {x},{y - r * 0.35} C{x + r * 0.75},{y - r * 1.05} {x + r * 1.3},{y + r * 0.05}"
        f' {x},{y + r * 0.9}Z" fill="{colour}"/>'
    )


def _star(x: float, y: float, r: float, colour: str) -> str:
    points = []
    for i in range(10):
        radius = r if i % 2 == 0 else r * 0.45
        angle = math.pi / 2 + i * math.pi / 5
        points.append(f"{x + radius * math.cos(angle):.1f},{y - radius * math.sin(angle):.1f}")
    return f'<polygon points="{" ".join(points)}" fill="{colour}"/>'


def _union_jack(x: float, y: float, r: float, colour: str) -> str:
    w, h = r * 2, r * 1.3
    left, top = x - w / 2, y - h / 2
    return (
        f'<g><rect x="{left}" y="{top}" width="{w}" height="{h}" fill="#28406e"/>'
        f'<path d="M{left},{top} L{left + w},{top + h} M{left + w},{top} L{left},{top + h}"'
        f' stroke="#fff" stroke-width="{r * 0.3}"/>'
        f'<path d="M{left},{top} L{left + w},{top + h} M{left + w},{top} L{left},{top + h}"'
        f' stroke="#d2423c" stroke-width="{r * 0.1}"/>'
        f'<path d="M{x},{top} V{top + h} M{left},{y} H{left + w}" stroke="#fff"'
        f' stroke-width="{r * 0.42}"/>'
        f'<path d="M{x},{top} V{top + h} M{left},{y} H{left + w}" stroke="#d2423c"'
        f' stroke-width="{r * 0.24}"/></g>'
    )


def _flower(x: float, y: float, r: float, colour: str) -> str:
    petals = "".join(
        f'<ellipse cx="{x}" cy="{y - r * 0.5}" rx="{r * 0.32}" ry="{r * 0.52}" fill="{colour}"'
        f' transform="rotate({angle} {x} {y})"/>'
        for angle in range(0, 360, 60)
    )
    return f'<g>{petals}<circle cx="{x}" cy="{y}" r="{r * 0.25}" fill="#f2c744"/></g>'


def _bird(x: float, y: float, r: float, colour: str) -> str:
    return (
        f'<g><ellipse cx="{x}" cy="{y + r * 0.1}" rx="{r * 0.85}" ry="{r * 0.6}" fill="{colour}"/>'
        f'<circle cx="{x + r * 0.55}" cy="{y - r * 0.35}" r="{r * 0.38}" fill="{colour}"/>'
        f'<path d="M{x + r * 0.9},{y - r * 0.4} l{r * 0.35},{r * 0.1} l-{r * 0.35},{r * 0.12}Z"'
        f' fill="#ec8535"/><circle cx="{x + r * 0.62}" cy="{y - r * 0.42}" r="{r * 0.07}"'
        f' fill="#222"/><path d="M{x - r * 0.85},{y} l-{r * 0.45},-{r * 0.35} l{r * 0.1},'
        f'{r * 0.5}Z" fill="{colour}"/></g>'
    )


def _butterfly(x: float, y: float, r: float, colour: str) -> str:
    return (
        f'<g><ellipse cx="{x - r * 0.45}" cy="{y - r * 0.3}" rx="{r * 0.45}" ry="{r * 0.55}"'
        f' fill="{colour}"/><ellipse cx="{x + r * 0.45}" cy="{y - r * 0.3}" rx="{r * 0.45}"'
        f' ry="{r * 0.55}" fill="{colour}"/><ellipse cx="{x - r * 0.35}" cy="{y + r * 0.4}"'
        f' rx="{r * 0.32}" ry="{r * 0.4}" fill="{colour}"/><ellipse cx="{x + r * 0.35}"'
        f' cy="{y + r * 0.4}" rx="{r * 0.32}" ry="{r * 0.4}" fill="{colour}"/>'
        f'<rect x="{x - r * 0.07}" y="{y - r * 0.7}" width="{r * 0.14}" height="{r * 1.4}"'
        f' rx="{r * 0.07}" fill="#333"/></g>'
    )


def _cat(x: float, y: float, r: float, colour: str) -> str:
    return (
        f'<g><circle cx="{x}" cy="{y + r * 0.1}" r="{r * 0.75}" fill="{colour}"/>'
        f'<path d="M{x - r * 0.7},{y - r * 0.2} L{x - r * 0.55},{y - r * 0.95} L{x - r * 0.15},'
        f"{y - r * 0.55}Z M{x + r * 0.7},{y - r * 0.2} L{x + r * 0.55},{y - r * 0.95}"
        f' L{x + r * 0.15},{y - r * 0.55}Z" fill="{colour}"/>'
        f'<circle cx="{x - r * 0.28}" cy="{y}" r="{r * 0.1}" fill="#f2c744"/>'
        f'<circle cx="{x + r * 0.28}" cy="{y}" r="{r * 0.1}" fill="#f2c744"/></g>'
    )


def _skull(x: float, y: float, r: float, colour: str) -> str:
    return (
        f'<g><circle cx="{x}" cy="{y - r * 0.15}" r="{r * 0.7}" fill="{colour}"/>'
        f'<rect x="{x - r * 0.4}" y="{y + r * 0.3}" width="{r * 0.8}" height="{r * 0.45}"'
        f' rx="{r * 0.1}" fill="{colour}"/><circle cx="{x - r * 0.28}" cy="{y - r * 0.15}"'
        f' r="{r * 0.17}" fill="#222"/><circle cx="{x + r * 0.28}" cy="{y - r * 0.15}"'
        f' r="{r * 0.17}" fill="#222"/></g>'
    )


def _tree(x: float, y: float, r: float, colour: str) -> str:
    return (
        f'<g><polygon points="{x},{y - r} {x - r * 0.8},{y + r * 0.6} {x + r * 0.8},'
        f'{y + r * 0.6}" fill="#2f7a4a"/><rect x="{x - r * 0.12}" y="{y + r * 0.6}"'
        f' width="{r * 0.24}" height="{r * 0.35}" fill="#8a5a3b"/>'
        f"{_star(x, y - r, r * 0.25, '#f2c744')}</g>"
    )


def _snowflake(x: float, y: float, r: float, colour: str) -> str:
    arms = "".join(
        f'<path d="M{x},{y} V{y - r}" transform="rotate({angle} {x} {y})"/>'
        for angle in range(0, 360, 60)
    )
    return f'<g stroke="{colour}" stroke-width="{r * 0.14}" stroke-linecap="round">{arms}</g>'


def _fruit(x: float, y: float, r: float, colour: str) -> str:
    return (
        f'<g><circle cx="{x}" cy="{y + r * 0.1}" r="{r * 0.7}" fill="#d2423c"/>'
        f'<path d="M{x},{y - r * 0.55} q{r * 0.1},-{r * 0.4} {r * 0.45},-{r * 0.45}"'
        f' stroke="#4f9a5f" stroke-width="{r * 0.12}" fill="none"/></g>'
    )


def _egg(x: float, y: float, r: float, colour: str) -> str:
    return f'<ellipse cx="{x}" cy="{y}" rx="{r * 0.62}" ry="{r * 0.85}" fill="{colour}"/>'


Motif = Callable[[float, float, float, str], str]
# Phrase (singular words) -> motif; two-word phrases are looked up first.
MOTIFS: dict[tuple[str, ...], Motif] = {
    ("union", "jack"): _union_jack,
    ("union", "flag"): _union_jack,
    ("heart",): _heart,
    ("sweetheart",): _heart,
    ("love",): _heart,
    ("star",): _star,
    ("spaceboy",): _star,
    ("flower",): _flower,
    ("floral",): _flower,
    ("rose",): _flower,
    ("daisy",): _flower,
    ("blossom",): _flower,
    ("bird",): _bird,
    ("owl",): _bird,
    ("hen",): _bird,
    ("chick",): _bird,
    ("robin",): _bird,
    ("butterfly",): _butterfly,
    ("butterflie",): _butterfly,
    ("cat",): _cat,
    ("kitty",): _cat,
    ("skull",): _skull,
    ("tree",): _tree,
    ("christmas",): _tree,
    ("snowflake",): _snowflake,
    ("strawberry",): _fruit,
    ("cherry",): _fruit,
    ("apple",): _fruit,
    ("egg",): _egg,
    ("easter",): _egg,
}
# Words that cover the object with a pattern rather than one motif.
DOTS = frozenset({"retrospot", "polkadot", "spot", "dot", "dotty", "spotty"})
STRIPES = frozenset({"stripe", "striped", "stripey", "gingham", "check"})


# --- Objects: each draws itself and says where its motif goes (x, y, r). -------------------


Shape = tuple[str, tuple[float, float, float]]


def _mug(fill: str, edge: str) -> Shape:
    return (
        f'<path d="M140,80 h14 a22,22 0 0 1 0,44 h-14" fill="none" stroke="{edge}"'
        f' stroke-width="10"/><rect x="52" y="62" width="92" height="98" rx="10" fill="{fill}"'
        f' stroke="{edge}" stroke-width="3"/>',
        (98, 111, 26),
    )


def _bag(fill: str, edge: str) -> Shape:
    return (
        f'<path d="M72,74 v-14 a28,28 0 0 1 56,0 v14" fill="none" stroke="{edge}"'
        f' stroke-width="8"/><path d="M50,72 h100 l10,96 h-120Z" fill="{fill}" stroke="{edge}"'
        f' stroke-width="3" stroke-linejoin="round"/>',
        (100, 122, 28),
    )


def _candle_holder(fill: str, edge: str) -> Shape:
    return (
        f'<path d="M100,58 c-9,-12 -3,-24 0,-30 c3,6 9,18 0,30Z" fill="#f2a93b"/>'
        f'<rect x="90" y="58" width="20" height="26" fill="#fff8e6" stroke="{edge}"/>'
        f'<path d="M56,84 h88 l-10,76 h-68Z" fill="{fill}" stroke="{edge}" stroke-width="3"'
        f' stroke-linejoin="round"/><rect x="60" y="160" width="80" height="10" rx="4"'
        f' fill="{edge}"/>',
        (100, 120, 24),
    )


def _lantern(fill: str, edge: str) -> Shape:
    return (
        f'<circle cx="100" cy="40" r="9" fill="none" stroke="{edge}" stroke-width="4"/>'
        f'<path d="M74,50 h52 l8,14 h-68Z" fill="{edge}"/><rect x="68" y="64" width="64"'
        f' height="90" rx="6" fill="{fill}" stroke="{edge}" stroke-width="4"/>'
        f'<rect x="80" y="76" width="40" height="66" rx="4" fill="#fff3cf"/>'
        f'<rect x="62" y="154" width="76" height="12" rx="3" fill="{edge}"/>',
        (100, 109, 17),
    )


def _necklace(fill: str, edge: str) -> Shape:
    beads = "".join(
        f'<circle cx="{100 + 62 * x:.1f}" cy="{52 + 70 * y:.1f}" r="7" fill="{fill}"'
        f' stroke="{edge}"/>'
        for x, y in [
            (-1.0, 0.0),
            (-0.95, 0.3),
            (-0.82, 0.58),
            (-0.6, 0.82),
            (-0.32, 0.96),
            (0.32, 0.96),
            (0.6, 0.82),
            (0.82, 0.58),
            (0.95, 0.3),
            (1.0, 0.0),
        ]
    )
    return (
        f'<path d="M38,52 a62,70 0 0 0 124,0" fill="none" stroke="{edge}" stroke-width="2"/>'
        f"{beads}",
        (100, 140, 20),
    )


def _card(fill: str, edge: str) -> Shape:
    return (
        f'<path d="M60,46 l-14,10 v108 l14,-10Z" fill="{_mix(fill, "#000000", 0.15)}"/>'
        f'<rect x="60" y="46" width="92" height="118" rx="3" fill="{fill}" stroke="{edge}"'
        f' stroke-width="3"/>',
        (106, 104, 30),
    )


def _gift_box(fill: str, edge: str) -> Shape:
    return (
        f'<rect x="50" y="80" width="100" height="84" rx="4" fill="{fill}" stroke="{edge}"'
        f' stroke-width="3"/><rect x="44" y="66" width="112" height="22" rx="4" fill="{fill}"'
        f' stroke="{edge}" stroke-width="3"/><rect x="93" y="66" width="14" height="98"'
        f' fill="{edge}"/><path d="M100,66 c-20,-26 -40,-6 0,0 c40,-6 20,-26 0,0"'
        f' fill="none" stroke="{edge}" stroke-width="5"/>',
        (72, 126, 14),
    )


def _notebook(fill: str, edge: str) -> Shape:
    rings = "".join(
        f'<rect x="52" y="{y}" width="16" height="6" rx="3" fill="{edge}"/>'
        for y in range(56, 160, 18)
    )
    return (
        f'<rect x="58" y="44" width="92" height="124" rx="6" fill="{fill}" stroke="{edge}"'
        f' stroke-width="3"/>{rings}',
        (106, 104, 28),
    )


def _cake_stand(fill: str, edge: str) -> Shape:
    return (
        f'<path d="M100,30 v140" stroke="{edge}" stroke-width="5"/>'
        f'<ellipse cx="100" cy="158" rx="64" ry="10" fill="{fill}" stroke="{edge}"'
        f' stroke-width="3"/><ellipse cx="100" cy="112" rx="48" ry="8" fill="{fill}"'
        f' stroke="{edge}" stroke-width="3"/><ellipse cx="100" cy="70" rx="32" ry="6"'
        f' fill="{fill}" stroke="{edge}" stroke-width="3"/>',
        (100, 136, 16),
    )


def _plate(fill: str, edge: str) -> Shape:
    return (
        f'<circle cx="100" cy="104" r="68" fill="{fill}" stroke="{edge}" stroke-width="3"/>'
        f'<circle cx="100" cy="104" r="48" fill="none" stroke="{edge}" stroke-width="2"/>',
        (100, 104, 28),
    )


def _teddy(fill: str, edge: str) -> Shape:
    return (
        f'<g fill="{fill}" stroke="{edge}" stroke-width="3"><circle cx="66" cy="56" r="16"/>'
        f'<circle cx="134" cy="56" r="16"/><circle cx="100" cy="84" r="40"/>'
        f'<ellipse cx="100" cy="150" rx="46" ry="30"/></g>'
        f'<circle cx="86" cy="78" r="5" fill="#222"/><circle cx="114" cy="78" r="5"'
        f' fill="#222"/><ellipse cx="100" cy="96" rx="10" ry="7" fill="#222"/>',
        (100, 150, 16),
    )


def _spool(fill: str, edge: str) -> Shape:
    return (
        f'<rect x="56" y="40" width="88" height="14" rx="4" fill="#b98a57"/>'
        f'<rect x="56" y="152" width="88" height="14" rx="4" fill="#b98a57"/>'
        f'<rect x="66" y="54" width="68" height="98" fill="{fill}" stroke="{edge}"'
        f' stroke-width="2"/><path d="M134,120 q30,10 20,40" fill="none" stroke="{fill}"'
        f' stroke-width="4"/>',
        (100, 103, 24),
    )


def _plant_pot(fill: str, edge: str) -> Shape:
    return (
        f'<path d="M100,96 c-30,-10 -44,-40 -30,-60 c16,10 28,30 30,60Z" fill="#4f9a5f"/>'
        f'<path d="M100,96 c30,-10 44,-40 30,-60 c-16,10 -28,30 -30,60Z" fill="#5fae6e"/>'
        f'<path d="M56,96 h88 l-12,72 h-64Z" fill="{fill}" stroke="{edge}" stroke-width="3"'
        f' stroke-linejoin="round"/><rect x="50" y="92" width="100" height="16" rx="3"'
        f' fill="{fill}" stroke="{edge}" stroke-width="3"/>',
        (100, 136, 20),
    )


def _frame(fill: str, edge: str) -> Shape:
    return (
        f'<path d="M100,22 L70,54 M100,22 L130,54" stroke="{edge}" stroke-width="2"/>'
        f'<rect x="44" y="50" width="112" height="122" rx="4" fill="{fill}" stroke="{edge}"'
        f' stroke-width="3"/><rect x="60" y="66" width="80" height="90" fill="#fffdf7"'
        f' stroke="{edge}"/>',
        (100, 111, 28),
    )


def _storage_box(fill: str, edge: str) -> Shape:
    return (
        f'<rect x="40" y="78" width="120" height="86" rx="4" fill="{fill}" stroke="{edge}"'
        f' stroke-width="3"/><rect x="34" y="62" width="132" height="22" rx="4" fill="{fill}"'
        f' stroke="{edge}" stroke-width="3"/><rect x="88" y="92" width="24" height="8" rx="3"'
        f' fill="{edge}"/>',
        (100, 132, 22),
    )


def _cushion(fill: str, edge: str) -> Shape:
    return (
        f'<path d="M44,52 Q100,40 156,52 Q146,104 156,156 Q100,146 44,156 Q54,104 44,52Z"'
        f' fill="{fill}" stroke="{edge}" stroke-width="3" stroke-linejoin="round"/>',
        (100, 104, 32),
    )


def _bauble(fill: str, edge: str) -> Shape:
    return (
        f'<path d="M100,20 v22" stroke="{edge}" stroke-width="2"/><rect x="88" y="40"'
        f' width="24" height="14" rx="3" fill="#d3a937"/><circle cx="100" cy="108" r="58"'
        f' fill="{fill}" stroke="{edge}" stroke-width="3"/><path d="M46,98 q54,24 108,0"'
        f' fill="none" stroke="#fff" stroke-opacity=".5" stroke-width="5"/>',
        (100, 120, 24),
    )


def _bunting(fill: str, edge: str) -> Shape:
    flags = "".join(
        f'<polygon points="{x},{58 + sag} {x + 30},{60 + sag} {x + 15},{96 + sag}"'
        f' fill="{fill if index % 2 == 0 else edge}"/>'
        for index, (x, sag) in enumerate([(28, 0), (66, 10), (104, 10), (142, 0)])
    )
    return (
        f'<path d="M20,56 Q100,84 180,56" fill="none" stroke="#555" stroke-width="2"/>{flags}',
        (100, 140, 26),
    )


def _pouch(fill: str, edge: str) -> Shape:
    return (
        f'<rect x="50" y="56" width="100" height="104" rx="34" fill="{fill}" stroke="{edge}"'
        f' stroke-width="3"/><path d="M64,70 h72" stroke="{edge}" stroke-width="2"'
        f' stroke-dasharray="5 4"/>',
        (100, 110, 28),
    )


SHAPE_OF_CATEGORY: dict[str, Callable[[str, str], Shape]] = {
    "Christmas": _bauble,
    "Easter & Party": _bunting,
    "Bags & Purses": _bag,
    "Jewellery": _necklace,
    "Accessories": _pouch,
    "Candles & Lighting": _candle_holder,
    "Cards & Gift Wrap": _card,
    "Stationery": _notebook,
    "Kitchen & Baking": _cake_stand,
    "Tableware": _mug,
    "Toys & Games": _teddy,
    "Crafts & Sewing": _spool,
    "Garden & Outdoors": _plant_pot,
    "Home Decor": _frame,
    "Storage & Organisation": _storage_box,
    "Textiles & Bathroom": _cushion,
}
# Words that name the object better than the category does.
SHAPE_OF_WORD: dict[str, Callable[[str, str], Shape]] = {
    "mug": _mug,
    "cup": _mug,
    "teacup": _mug,
    "bag": _bag,
    "tote": _bag,
    "lantern": _lantern,
    "candle": _candle_holder,
    "t-light": _candle_holder,
    "tin": _storage_box,
    "necklace": _necklace,
    "card": _card,
    "notebook": _notebook,
    "plate": _plate,
    "bowl": _plate,
    "cakestand": _cake_stand,
    "frame": _frame,
    "box": _storage_box,
    "cushion": _cushion,
    "bauble": _bauble,
    "bunting": _bunting,
    "garland": _bunting,
    "teddy": _teddy,
    "wrap": _gift_box,
    "gift": _gift_box,
}


def _colours(words: list[str], category: str) -> tuple[str, str]:
    """The object's colour and its motif's: the first two colours named, else the category's."""
    named = list(dict.fromkeys(COLOURS[word] for word in words if word in COLOURS))
    base, accent = CATEGORY_COLOURS.get(category, DEFAULT_COLOURS)
    if not named:
        return base, accent
    if len(named) == 1:
        # One colour named: the object takes it; the motif stands out in white or red.
        return named[0], "#d2423c" if named[0] in LIGHT else "#fbfaf7"
    return named[0], named[1]


def _pattern(words: set[str], fill: str, accent: str) -> str:
    """A fill pattern for the object (dots, stripes), or "" for a plain colour."""
    if words & DOTS:
        return (
            '<pattern id="p" width="18" height="18" patternUnits="userSpaceOnUse">'
            f'<rect width="18" height="18" fill="{fill}"/><circle cx="9" cy="9" r="3.6"'
            f' fill="{accent}"/></pattern>'
        )
    if words & STRIPES:
        return (
            '<pattern id="p" width="16" height="16" patternUnits="userSpaceOnUse">'
            f'<rect width="16" height="16" fill="{fill}"/><rect width="8" height="16"'
            f' fill="{accent}" fill-opacity=".55"/></pattern>'
        )
    return ""


def _motif(words: list[str]) -> Motif | None:
    for pair in pairwise(words):
        if pair in MOTIFS:
            return MOTIFS[pair]
    for word in words:
        if (word,) in MOTIFS:
            return MOTIFS[(word,)]
    return None


@lru_cache(maxsize=4096)
def product_image_svg(*, name: str, category: str) -> str:
    """The SVG picture of a product called ``name`` in ``category``."""
    words = [singular(word) for word in words_of(name)]
    fill, accent = _colours(words, category)
    shape = next((SHAPE_OF_WORD[word] for word in words if word in SHAPE_OF_WORD), None)
    shape = shape or SHAPE_OF_CATEGORY.get(category, _gift_box)
    edge = _mix(fill, "#000000", 0.35)
    pattern = _pattern(set(words), fill, accent)
    body, (x, y, r) = shape("url(#p)" if pattern else fill, edge)
    motif = _motif(words)
    vintage = "vintage" in words or "antique" in words
    background = _mix(fill if fill not in LIGHT else accent, "#ffffff", 0.82)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SIZE} {SIZE}"'
        f' width="{SIZE}" height="{SIZE}" role="img">',
        f"<defs>{pattern}</defs>" if pattern else "",
        f'<rect width="{SIZE}" height="{SIZE}" fill="{background}"/>',
        '<ellipse cx="100" cy="176" rx="70" ry="9" fill="#000" fill-opacity=".08"/>',
        body,
        motif(x, y, r, accent if accent != fill else edge) if motif else "",
        # An old photograph's warmth for vintage things.
        f'<rect width="{SIZE}" height="{SIZE}" fill="#a0702a" fill-opacity=".12"/>'
        if vintage
        else "",
        "</svg>",
    ]
    return "".join(parts)


def product_image_etag(*, name: str, category: str) -> str:
    """A validator of the picture: it changes when the name, category or drawing does."""
    key = "\0".join((DRAWING_VERSION, name, category))
    return hashlib.sha256(key.encode()).hexdigest()[:20]
