"""Procedural shapes for the six demo categories.

One builder per category, registered in :data:`BUILDERS`. A builder takes a
:class:`~recon.demo.draw.Draw` (which records every random draw) and returns the
shape's parts and its declared materials (those no part uses are dropped).
:func:`generate_shape` then draws the material colours from the category's palette
and a small placement offset, so raw meshes are neither centred nor normalized (like
ShapeNetCore.v1).

Frame: +Y up, the front faces -Z, objects stand on (or near) ``y = 0``; sizes are
roughly real-world metres.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import trimesh

from recon.demo.draw import Draw
from recon.demo.primitives import (
    Z_TO_Y,
    box,
    cone,
    disk,
    frustum,
    revolve_y,
    rod,
    rotated_about,
    sphere,
    tube_arc,
)
from recon.demo.textures import draw_texture

__all__ = ["BUILDERS", "DEMO_CATEGORIES", "MAIN_VARIANT", "PALETTES", "Part", "generate_shape"]

#: One part of a shape: ``(name, closed mesh, material name)``.
Part = tuple[str, trimesh.Trimesh, str]

#: Category name -> ShapeNet synset id (in the default generation order).
DEMO_CATEGORIES: dict[str, str] = {
    "chair": "03001627",
    "table": "04379243",
    "airplane": "02691156",
    "lamp": "03636649",
    "mug": "03797390",
    "bottle": "02876657",
}

#: The main discrete parameter of each category (the one whose values must vary).
MAIN_VARIANT: dict[str, str] = {
    "chair": "legs",
    "table": "support",
    "airplane": "tail",
    "lamp": "pole",
    "mug": "handle",
    "bottle": "body_shape",
}

#: Per-category material colours (RGB ``Kd`` in ``[0, 1]``); each material of a shape
#: draws one entry.
PALETTES: dict[str, list[tuple[float, float, float]]] = {
    "chair": [
        (0.545, 0.353, 0.169),
        (0.2, 0.2, 0.22),
        (0.6, 0.6, 0.62),
        (0.7, 0.15, 0.15),
        (0.15, 0.3, 0.6),
        (0.85, 0.8, 0.7),
    ],
    "table": [(0.76, 0.6, 0.42), (0.45, 0.3, 0.18), (0.9, 0.9, 0.88), (0.15, 0.15, 0.15), (0.55, 0.55, 0.58)],
    "airplane": [
        (0.92, 0.92, 0.94),
        (0.7, 0.72, 0.75),
        (0.2, 0.35, 0.7),
        (0.75, 0.12, 0.12),
        (0.3, 0.32, 0.35),
    ],
    "lamp": [(0.1, 0.1, 0.1), (0.78, 0.62, 0.3), (0.95, 0.95, 0.92), (0.7, 0.2, 0.15), (0.25, 0.45, 0.3)],
    "mug": [(0.95, 0.95, 0.95), (0.75, 0.15, 0.15), (0.2, 0.35, 0.65), (0.95, 0.8, 0.25), (0.12, 0.12, 0.12)],
    "bottle": [
        (0.3, 0.55, 0.35),
        (0.45, 0.28, 0.12),
        (0.25, 0.4, 0.7),
        (0.85, 0.88, 0.9),
        (0.75, 0.1, 0.1),
        (0.1, 0.1, 0.1),
    ],
}

Builder = Callable[[Draw], tuple[list[Part], list[tuple[str, dict[str, Any] | None]]]]
BUILDERS: dict[str, Builder] = {}

_X = (1.0, 0.0, 0.0)
_Y = (0.0, 1.0, 0.0)
_Z = (0.0, 0.0, 1.0)


def _register(category: str) -> Callable[[Builder], Builder]:
    def deco(fn: Builder) -> Builder:
        BUILDERS[category] = fn
        return fn

    return deco


@_register("chair")
def _chair(d: Draw):
    """Seat box, panel or slatted backrest, 3/4 legs or a 5-star swivel base, optional arms."""
    parts: list[Part] = []
    w = d.uniform("seat_width", 0.42, 0.6)
    dep = d.uniform("seat_depth", 0.4, 0.55)
    sh = d.uniform("seat_height", 0.4, 0.5)
    st = d.uniform("seat_thickness", 0.03, 0.07)
    bottom = sh - st
    parts.append(("seat", box([w, st, dep], [0.0, sh - st / 2, 0.0]), "seat"))

    legs = d.choice("legs", ["four", "three", "swivel"], p=[0.45, 0.2, 0.35])
    if legs in ("four", "three"):
        lr = d.uniform("leg_radius", 0.015, 0.03)
        inset = d.uniform("leg_inset", 0.01, 0.05)
        square = d.flag("square_legs", 0.5)
        ax, az = w / 2 - inset - lr, dep / 2 - inset - lr
        if legs == "four":
            spots = [(sx * ax, sz * az) for sz in (-1.0, 1.0) for sx in (-1.0, 1.0)]
        else:  # one front leg, two back legs
            angles = np.deg2rad([-90.0, 30.0, 150.0])
            spots = [(ax * np.cos(a), az * np.sin(a)) for a in angles]
        for i, (x, z) in enumerate(spots):
            if square:
                leg = box([2 * lr, bottom, 2 * lr], [x, bottom / 2, z])
            else:
                leg = rod([x, 0.0, z], [x, bottom, z], lr, sections=12)
            parts.append((f"leg_{i}", leg, "frame"))
    else:
        pr = d.uniform("pedestal_radius", 0.022, 0.04)
        foot = d.uniform("foot_length", 0.24, 0.32)
        fh = d.uniform("foot_height", 0.025, 0.045)
        cr = d.uniform("caster_radius", 0.018, 0.028)
        spin = d.uniform("star_rotation_deg", 0.0, 72.0)
        y_feet = 2 * cr
        for k in range(5):
            spoke = box([foot, fh, 0.04], [foot / 2, y_feet + fh / 2, 0.0])
            ang = np.deg2rad(spin + 72.0 * k)
            rotated_about(spoke, ang, _Y, [0.0, 0.0, 0.0])
            parts.append((f"foot_{k}", spoke, "frame"))
            tip = [foot * np.cos(ang) * 0.95, cr, -foot * np.sin(ang) * 0.95]
            parts.append((f"caster_{k}", sphere(tip, cr), "frame"))
        parts.append(("hub", disk([0.0, y_feet + fh / 2, 0.0], pr * 1.8, fh), "frame"))
        parts.append(("pedestal", rod([0.0, y_feet, 0.0], [0.0, bottom, 0.0], pr, sections=16), "frame"))
        parts.append(("mechanism", box([w * 0.4, 0.04, dep * 0.4], [0.0, bottom - 0.02, 0.0]), "frame"))

    style = d.choice("back_style", ["panel", "slats"])
    bh = d.uniform("back_height", 0.35, 0.6)
    tilt = np.deg2rad(d.uniform("back_tilt_deg", 0.0, 20.0))
    bt = d.uniform("back_thickness", 0.02, 0.05)
    zb = dep / 2 - bt / 2
    pivot = [0.0, sh, dep / 2]
    back: list[trimesh.Trimesh] = []
    if style == "panel":
        back.append(box([w, bh, bt], [0.0, sh + bh / 2, zb]))
    else:
        n = d.integer("n_slats", 3, 6)
        pw = 0.035
        rail = d.uniform("rail_height", 0.05, 0.1)
        for sx in (-1.0, 1.0):
            back.append(box([pw, bh, bt], [sx * (w / 2 - pw / 2), sh + bh / 2, zb]))
        back.append(box([w, rail, bt], [0.0, sh + bh - rail / 2, zb]))
        inner = w - 2 * pw
        sw = min(0.5 * inner / n, 0.05)
        for i in range(n):
            x = -inner / 2 + inner * (i + 0.5) / n
            back.append(box([sw, bh - rail, bt * 0.6], [x, sh + (bh - rail) / 2, zb]))
    for i, m in enumerate(back):
        rotated_about(m, tilt, _X, pivot)
        parts.append((f"back_{i}", m, "seat" if style == "panel" else "frame"))

    if d.flag("arms", 0.5):
        ah = d.uniform("arm_height", 0.18, 0.28)
        aw = d.uniform("arm_width", 0.04, 0.07)
        al = dep * d.uniform("arm_length_ratio", 0.7, 0.95)
        for sx in (-1.0, 1.0):
            x = sx * (w / 2 - aw / 2)
            parts.append(
                (f"armrest_{int(sx > 0)}", box([aw, 0.03, al], [x, sh + ah, dep / 2 - al / 2]), "frame")
            )
            zs = dep / 2 - al + aw
            parts.append(
                (f"arm_support_{int(sx > 0)}", box([aw * 0.6, ah, aw * 0.6], [x, sh + ah / 2, zs]), "frame")
            )
    return parts, [("seat", None), ("frame", None)]


@_register("table")
def _table(d: Draw):
    """Rectangular or round (textured) top on 4 legs, a pedestal or 2 trestles; optional shelf."""
    parts: list[Part] = []
    shape = d.choice("top_shape", ["rect", "round"], p=[0.6, 0.4])
    height = d.uniform("height", 0.68, 0.78)
    tt = d.uniform("top_thickness", 0.025, 0.06)
    if shape == "rect":
        tw = d.uniform("top_width", 0.8, 1.8)
        td = d.uniform("top_depth", 0.6, 1.0)
        parts.append(("top", box([tw, tt, td], [0.0, height - tt / 2, 0.0]), "top"))
        hx, hz = tw / 2, td / 2
    else:
        r = d.uniform("top_radius", 0.4, 0.7)
        parts.append(("top", disk([0.0, height - tt / 2, 0.0], r, tt, sections=40), "top"))
        hx = hz = r / np.sqrt(2.0)
    under = height - tt

    support = d.choice("support", ["legs", "pedestal", "trestle"], p=[0.45, 0.3, 0.25])
    if support == "legs":
        lr = d.uniform("leg_radius", 0.02, 0.04)
        inset = d.uniform("leg_inset", 0.03, 0.1)
        for i, (sx, sz) in enumerate([(-1, -1), (1, -1), (-1, 1), (1, 1)]):
            x, z = sx * (hx - inset - lr), sz * (hz - inset - lr)
            parts.append((f"leg_{i}", box([2 * lr, under, 2 * lr], [x, under / 2, z]), "base"))
    elif support == "pedestal":
        pr = d.uniform("pedestal_radius", 0.04, 0.08)
        fr = min(hx, hz) * d.uniform("foot_ratio", 0.5, 0.85)
        ft = d.uniform("foot_thickness", 0.02, 0.04)
        parts.append(("foot", disk([0.0, ft / 2, 0.0], fr, ft, sections=32), "base"))
        parts.append(("pedestal", rod([0.0, ft, 0.0], [0.0, under, 0.0], pr, sections=20), "base"))
    else:
        pt = d.uniform("panel_thickness", 0.03, 0.06)
        pd = 2 * hz * d.uniform("panel_depth_ratio", 0.6, 0.85)
        px = hx * d.uniform("panel_x_ratio", 0.6, 0.85)
        for i, sx in enumerate((-1.0, 1.0)):
            parts.append((f"trestle_{i}", box([pt, under, pd], [sx * px, under / 2, 0.0]), "base"))
            parts.append((f"trestle_foot_{i}", box([pt * 1.6, 0.04, pd * 1.1], [sx * px, 0.02, 0.0]), "base"))
        parts.append(("stretcher", box([2 * px, 0.05, 0.04], [0.0, under * 0.35, 0.0]), "base"))

    if d.flag("shelf", 0.5):
        sy = d.uniform("shelf_height", 0.12, 0.25)
        if shape == "rect":
            parts.append(("shelf", box([2 * hx * 0.85, 0.02, 2 * hz * 0.85], [0.0, sy, 0.0]), "base"))
        else:
            parts.append(("shelf", disk([0.0, sy, 0.0], hx * 1.1, 0.02, sections=32), "base"))
    texture = draw_texture(d.group("texture"))
    return parts, [("top", texture), ("base", None)]


def _half_wing(
    side: float, length: float, thick: float, chord: float, root: list[float], sweep: float, dihedral: float
):
    """One swept, dihedralled wing box from ``root`` (centre of its root chord) outward along ``side * X``."""
    m = box([length, thick, chord], [root[0] + side * length / 2, root[1], root[2]])
    rotated_about(m, -side * sweep, _Y, root)
    rotated_about(m, side * dihedral, _Z, root)
    return m


@_register("airplane")
def _airplane(d: Draw):
    """Fuselage + nose/tail cones, swept wings, conventional or T tail, 0/2/4 engines."""
    parts: list[Part] = []
    L = d.uniform("fuselage_length", 2.5, 5.0)
    fr = L * d.uniform("fuselage_radius_ratio", 0.045, 0.075)
    nose = L * d.uniform("nose_ratio", 0.08, 0.15)
    tail_len = L * d.uniform("tail_cone_ratio", 0.12, 0.2)
    cy = fr * d.uniform("fuselage_height_ratio", 1.4, 2.2)
    z0 = -L / 2 + nose
    z1 = L / 2 - tail_len
    parts.append(("fuselage", rod([0.0, cy, z0], [0.0, cy, z1], fr, sections=24), "body"))
    parts.append(("nose", cone([0.0, cy, z0], [0.0, cy - 0.2 * fr, -L / 2], fr), "body"))
    parts.append(("tail_cone", cone([0.0, cy, z1], [0.0, cy + 0.6 * fr, L / 2], fr), "body"))

    mount = d.choice("wing_mount", ["low", "mid", "high"])
    wy = cy + {"low": -0.6, "mid": 0.0, "high": 0.6}[mount] * fr
    span = L * d.uniform("span_ratio", 0.9, 1.3)
    chord = L * d.uniform("chord_ratio", 0.1, 0.2)
    sweep = np.deg2rad(d.uniform("sweep_deg", 0.0, 35.0))
    dihedral = np.deg2rad(d.uniform("dihedral_deg", -2.0, 7.0))
    wt = chord * d.uniform("wing_thickness_ratio", 0.08, 0.14)
    wz = L * d.uniform("wing_position", -0.12, 0.05)
    d.set("wing_span", round(span, 6))
    half = (span / 2) / np.cos(sweep)
    for i, side in enumerate((-1.0, 1.0)):
        parts.append((f"wing_{i}", _half_wing(side, half, wt, chord, [0.0, wy, wz], sweep, dihedral), "wing"))

    tail = d.choice("tail", ["conventional", "t_tail"])
    fin_h = L * d.uniform("fin_height_ratio", 0.12, 0.2)
    fin_c = L * d.uniform("fin_chord_ratio", 0.1, 0.16)
    fin_sweep = np.deg2rad(d.uniform("fin_sweep_deg", 20.0, 45.0))
    tz = L / 2 - fin_c * 0.8
    base_y = cy + 0.5 * fr
    fin = box([fin_c * 0.1, fin_h, fin_c], [0.0, base_y + fin_h / 2, tz])
    rotated_about(fin, fin_sweep, _X, [0.0, base_y, tz])
    parts.append(("fin", fin, "wing"))
    h_span = span * d.uniform("stabilizer_span_ratio", 0.3, 0.45)
    h_chord = chord * d.uniform("stabilizer_chord_ratio", 0.5, 0.7)
    if tail == "t_tail":
        root = [0.0, base_y + fin_h * np.cos(fin_sweep), tz + fin_h * np.sin(fin_sweep)]
    else:
        root = [0.0, cy + 0.2 * fr, tz]
    for i, side in enumerate((-1.0, 1.0)):
        stab = _half_wing(side, h_span / 2, h_chord * 0.1, h_chord, root, sweep + np.deg2rad(5.0), 0.0)
        parts.append((f"stabilizer_{i}", stab, "wing"))

    engines = d.choice("engines", [0, 2, 4], p=[0.25, 0.45, 0.3])
    if engines:
        er = fr * d.uniform("engine_radius_ratio", 0.35, 0.55)
        el = chord * d.uniform("engine_length_ratio", 0.9, 1.4)
        f1 = d.uniform("engine_span_fraction", 0.25, 0.4)
        fracs = [f1] if engines == 2 else [f1, f1 + d.uniform("outer_engine_offset", 0.2, 0.3)]
        k = 0
        for f in fracs:
            for side in (-1.0, 1.0):
                x = side * f * (span / 2) * np.cos(dihedral)
                y = wy + f * (span / 2) * np.sin(dihedral) - wt / 2 - er * 1.3
                z = wz + f * (span / 2) * np.tan(sweep) - chord * 0.35
                parts.append(
                    (f"engine_{k}", rod([x, y, z - el / 2], [x, y, z + el / 2], er, sections=16), "engine")
                )
                pylon = box([er * 0.3, er * 1.4, el * 0.5], [x, y + er * 0.8, z + el * 0.15])
                parts.append((f"pylon_{k}", pylon, "wing"))
                k += 1
    return parts, [("body", None), ("wing", None), ("engine", None)]


@_register("lamp")
def _lamp(d: Draw):
    """Base disk, straight or bent (2-segment) pole, cone or cylinder shade; floor or desk size."""
    parts: list[Part] = []
    kind = d.choice("kind", ["floor", "desk"])
    if kind == "floor":
        H = d.uniform("height", 1.3, 1.8)
        base_r = d.uniform("base_radius", 0.14, 0.22)
        pole_r = d.uniform("pole_radius", 0.012, 0.02)
        shade_r = d.uniform("shade_radius", 0.16, 0.26)
    else:
        H = d.uniform("height", 0.35, 0.6)
        base_r = d.uniform("base_radius", 0.07, 0.11)
        pole_r = d.uniform("pole_radius", 0.006, 0.012)
        shade_r = d.uniform("shade_radius", 0.07, 0.12)
    base_t = d.uniform("base_thickness", 0.015, 0.035)
    parts.append(
        (
            "base",
            frustum([0.0, 0.0, 0.0], base_t, base_r, base_r * d.uniform("base_taper", 0.6, 0.95)),
            "metal",
        )
    )
    shade_h = shade_r * d.uniform("shade_height_ratio", 0.8, 1.3)

    pole = d.choice("pole", ["straight", "bent"])
    if pole == "straight":
        top = np.array([0.0, H, 0.0])
        parts.append(
            ("pole", rod([0.0, base_t, 0.0], [0.0, H - shade_h * 0.5, 0.0], pole_r, sections=12), "metal")
        )
    else:
        h1 = H * d.uniform("bend_height_ratio", 0.6, 0.8)
        a = np.deg2rad(d.uniform("arm_angle_deg", 20.0, 55.0))
        reach = (H - h1) * np.tan(a)
        elbow = np.array([0.0, h1, 0.0])
        top = np.array([0.0, H, -reach])
        parts.append(("pole_lower", rod([0.0, base_t, 0.0], elbow, pole_r, sections=12), "metal"))
        parts.append(("pole_upper", rod(elbow, top, pole_r, sections=12), "metal"))
        parts.append(("elbow", sphere(elbow, pole_r * 1.6), "metal"))
        parts.append(("joint", sphere(top, pole_r * 1.6), "metal"))

    shade = d.choice("shade", ["cone", "cylinder"])
    bottom = top - np.array([0.0, shade_h, 0.0])
    if shade == "cone":
        r_top = shade_r * d.uniform("shade_taper", 0.4, 0.7)
        parts.append(("shade", frustum(bottom, shade_h, shade_r, r_top, sections=32), "shade"))
    else:
        parts.append(
            (
                "shade",
                disk(bottom + np.array([0.0, shade_h / 2, 0.0]), shade_r * 0.8, shade_h, sections=32),
                "shade",
            )
        )
    return parts, [("metal", None), ("shade", None)]


@_register("mug")
def _mug(d: Draw):
    """Hollow-looking cylinder body, torus-section or box-loop handle, optional saucer."""
    parts: list[Part] = []
    r = d.uniform("radius", 0.035, 0.05)
    h = d.uniform("height", 0.08, 0.12)
    wall = d.uniform("wall_thickness", 0.004, 0.007)
    bt = d.uniform("bottom_thickness", 0.005, 0.01)
    y0 = 0.0
    if d.flag("saucer", 0.4):
        s_r = r * d.uniform("saucer_radius_ratio", 1.5, 1.9)
        s_t = d.uniform("saucer_thickness", 0.004, 0.008)
        parts.append(("saucer", disk([0.0, s_t / 2, 0.0], s_r, s_t, sections=40), "saucer"))
        y0 = s_t
    body = trimesh.creation.annulus(r - wall, r, h, sections=32)
    body.apply_transform(Z_TO_Y)
    body.apply_translation([0.0, y0 + h / 2, 0.0])
    parts.append(("body", body, "ceramic"))
    parts.append(("bottom", disk([0.0, y0 + bt / 2, 0.0], r - wall / 2, bt, sections=32), "ceramic"))

    handle = d.choice("handle", ["torus", "box"])
    hr = h * d.uniform("handle_radius_ratio", 0.28, 0.36)
    tube = d.uniform("handle_thickness", 0.005, 0.009)
    cy = y0 + h * d.uniform("handle_center_ratio", 0.45, 0.55)
    if handle == "torus":
        gap = np.deg2rad(d.uniform("handle_gap_deg", 40.0, 60.0))
        arc = tube_arc(hr, tube, -(np.pi - gap), 2.0 * (np.pi - gap))
        arc.apply_translation([r - wall / 2 + hr * np.cos(gap), cy, 0.0])
        parts.append(("handle", arc, "ceramic"))
    else:
        reach = hr * d.uniform("handle_reach_ratio", 0.9, 1.3)
        t2 = 2 * tube
        x_in = r - wall / 2
        for i, sy in enumerate((-1.0, 1.0)):
            parts.append(
                (
                    f"handle_bar_{i}",
                    box([reach, t2, t2 * 1.5], [x_in + reach / 2, cy + sy * hr * 0.8, 0.0]),
                    "ceramic",
                )
            )
        parts.append(
            ("handle_grip", box([t2, 1.6 * hr + t2, t2 * 1.5], [x_in + reach - tube, cy, 0.0]), "ceramic")
        )
    return parts, [("ceramic", None), ("saucer", None)]


@_register("bottle")
def _bottle(d: Draw):
    """Surface of revolution (body, shoulder, neck) from a drawn profile, plus a cap (and maybe a label)."""
    parts: list[Part] = []
    shape = d.choice("body_shape", ["cylindrical", "rounded"])
    R = d.uniform("body_radius", 0.03, 0.05)
    hb = d.uniform("body_height", 0.12, 0.22)
    hs = d.uniform("shoulder_height", 0.03, 0.07)
    nl = d.uniform("neck_length", 0.02, 0.08)
    nr = R * d.uniform("neck_radius_ratio", 0.3, 0.45)
    if shape == "cylindrical":
        body = [(0.0, 0.0), (R * 0.9, 0.0), (R, R * 0.1), (R, hb)]
        r_top = R
    else:
        bulge = d.uniform("bulge", 0.15, 0.35)
        ys = np.linspace(0.0, hb, 9)
        rs = R * (1.0 - bulge + bulge * np.sin(np.pi * ys / hb))
        body = [(0.0, 0.0)] + [(float(a), float(b)) for a, b in zip(rs, ys, strict=True)]
        r_top = float(rs[-1])
    t = np.linspace(0.0, 1.0, 7)[1:]
    shoulder = [(float(nr + (r_top - nr) * (0.5 + 0.5 * np.cos(np.pi * u))), float(hb + hs * u)) for u in t]
    top = hb + hs + nl
    profile = np.array(body + shoulder + [(nr, top), (0.0, top)], dtype=np.float64)
    parts.append(("bottle", revolve_y(profile, sections=32), "glass"))

    ch = d.uniform("cap_height", 0.012, 0.025)
    cr = nr * d.uniform("cap_radius_ratio", 1.1, 1.3)
    parts.append(("cap", disk([0.0, top - 0.3 * ch + ch / 2, 0.0], cr, ch, sections=24), "cap"))
    if shape == "cylindrical" and d.flag("label", 0.6):
        lh = hb * d.uniform("label_height_ratio", 0.3, 0.55)
        parts.append(("label", disk([0.0, hb * 0.5, 0.0], R * 1.01, lh, sections=32), "label"))
    return parts, [("glass", None), ("cap", None), ("label", None)]


def _bounds(parts: list[Part]) -> np.ndarray:
    allv = np.concatenate([m.vertices for _, m, _ in parts], axis=0)
    return np.stack([allv.min(axis=0), allv.max(axis=0)])


def generate_shape(category: str, rng: np.random.Generator) -> tuple[list[Part], dict[str, Any]]:
    """Build one procedural shape of ``category`` from the generator ``rng``.

    Args:
        category: one of :data:`DEMO_CATEGORIES`.
        rng: the shape's generator, normally ``recon.seeding.rng(seed, "demo", category, index)``.

    Returns:
        ``(parts, params)``: ``parts`` is a list of ``(name, mesh, material)`` where each
        mesh is a closed :class:`trimesh.Trimesh` (``float64`` vertices ``(V, 3)``,
        ``int64`` faces ``(F, 3)``) already placed in the raw (un-normalized) frame;
        ``params`` holds every drawn parameter (JSON-serializable), plus ``materials``
        (name -> ``{"Kd": [r, g, b], "texture": spec or None}``) and ``offset``
        (the ``(3,)`` placement offset applied to all parts).

    Raises:
        ValueError: unknown ``category``.
    """
    if category not in BUILDERS:
        raise ValueError(f"unknown demo category {category!r}; valid: {', '.join(DEMO_CATEGORIES)}")
    d = Draw(rng)
    parts, materials = BUILDERS[category](d)
    used = {mat for _, _, mat in parts}
    declared = [name for name, _ in materials]
    if not used <= set(declared):
        raise RuntimeError(f"{category}: undeclared materials {sorted(used - set(declared))}")
    materials = [(name, tex) for name, tex in materials if name in used]
    palette = PALETTES[category]
    mats: dict[str, Any] = {}
    for name, texture in materials:
        kd = palette[int(rng.integers(len(palette)))]
        mats[name] = {"Kd": [float(c) for c in kd], "texture": texture}
    d.set("materials", mats)
    lo, hi = _bounds(parts)
    size = float(np.linalg.norm(hi - lo))
    offset = [
        round(float(rng.uniform(-0.1, 0.1)) * size, 6),
        round(float(rng.uniform(-0.01, 0.02)) * size, 6),
        round(float(rng.uniform(-0.1, 0.1)) * size, 6),
    ]
    d.set("offset", offset)
    for _, mesh, _ in parts:
        mesh.apply_translation(offset)
    return parts, d.params
