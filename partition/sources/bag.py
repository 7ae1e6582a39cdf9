"""BAG GeoPackage: the addresses of one gemeente (or bounding box) as a register.

The Basisregistratie Adressen en Gebouwen (BAG, Kadaster, CC0) registers every
address (*nummeraanduiding*) on a street (*openbare ruimte*) in a place
(*woonplaats*), and the addressable object it belongs to: a *verblijfsobject*
(a dwelling, shop or office inside a building, with a point), a *ligplaats*
(a mooring for a houseboat) or a *standplaats* (a pitch for a caravan home).
Two GeoPackage layouts are read:

- **linked** (the IMBAG objects, one layer each): ``verblijfsobject`` with
  ``identificatie``, ``status``, ``gebruiksdoel``, ``oppervlakte``, a point and
  the link to its main address (``nummeraanduiding_hoofdadres_identificatie``,
  also read as ``hoofdadres_identificatie`` or ``hoofdadresnummeraanduidingref``);
  ``nummeraanduiding`` with ``identificatie``, ``postcode``, ``huisnummer``,
  ``huisletter``, ``toevoeging`` (or ``huisnummertoevoeging``), ``status`` and
  the link ``openbare_ruimte_identificatie`` (or ``openbareruimteref``);
  ``openbareruimte`` with ``identificatie``, ``naam`` and
  ``woonplaats_identificatie`` (or ``woonplaatsref``); ``woonplaats`` with
  ``identificatie`` and ``naam``; optional ``ligplaats`` and ``standplaats``
  (polygons, same address link as verblijfsobject).
- **flat** (the PDOK BAG GeoPackage and the OGC API): ``verblijfsobject`` carries
  the address itself: ``postcode``, ``huisnummer``, ``huisletter``,
  ``toevoeging``, ``openbare_ruimte_naam``, ``woonplaats_naam`` and optionally
  ``bronhouder_identificatie`` (the responsible gemeente).

Column and layer names are matched case-insensitively. :func:`import_bag` is
pure; :func:`read_bag_geopackage` reads the layers.

Which addresses are kept (and why):

- the object's status is one of :data:`IN_USE_STATUSES`: "Verblijfsobject in
  gebruik", "Verblijfsobject in gebruik (niet ingemeten)" and "Verbouwing
  verblijfsobject" (an existing dwelling under renovation, usually lived in),
  and "Plaats aangewezen" for ligplaatsen and standplaatsen. Objects that are
  only planned ("gevormd"), never built ("Niet gerealiseerd"), out of use
  ("buiten gebruik"), withdrawn ("ingetrokken") or registered in error ("ten
  onrechte opgevoerd") have nobody living there;
- the address itself is issued ("Naamgeving uitgegeven") where the file has an
  address status;
- the address has a postcode (objects that are no postal delivery point have
  none, and registrations are matched by postcode).

All uses (``gebruiksdoel``) are kept, so that territories cover shops and
offices too; the coverage counts only addresses with ``woonfunctie``, and
ligplaatsen and standplaatsen (no ``gebruiksdoel``) as dwellings.

Notes
-----
Selecting a gemeente uses ``bronhouder_identificatie`` (or ``gemeentecode``)
where the layer has it, else the first four digits of the nummeraanduiding's
identificatie, which are the code of the gemeente that issued it. After a
municipal merger (*herindeling*) addresses keep the code of the old gemeente;
select those with ``bbox`` instead. Only main addresses (*hoofdadressen*) are
read; secondary addresses (*nevenadressen*) are left out.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from partition.addresses import value_shape
from partition.errors import BuurtgroepenError, CRSError, InputFileError
from partition.register import prepare_register
from partition.sources import RD_NEW, read_layers

logger = logging.getLogger(__name__)

IN_USE_STATUSES = (
    "Verblijfsobject in gebruik",
    "Verblijfsobject in gebruik (niet ingemeten)",
    "Verbouwing verblijfsobject",
    "Plaats aangewezen",
)
ISSUED_ADDRESS_STATUS = "Naamgeving uitgegeven"
LICENCE = "CC0 1.0 (https://creativecommons.org/publicdomain/zero/1.0/deed.nl)"
ATTRIBUTION = "Bron: Kadaster, Basisregistratie Adressen en Gebouwen (BAG)"
REGISTER_COLUMNS = (
    "postcode",
    "huisnummer",
    "huisletter",
    "huisnummertoevoeging",
    "openbare_ruimte",
    "woonplaats",
    "nummeraanduiding_id",
    "gebruiksdoel",
    "status",
    "oppervlakte",
    "gemeentecode",
)

OBJECT_LAYERS = ("verblijfsobject", "ligplaats", "standplaats")
BAG_LAYERS = (*OBJECT_LAYERS, "nummeraanduiding", "openbareruimte", "woonplaats")
_LAYER_ALIASES = {"openbare_ruimte": "openbareruimte"}

# canonical column -> accepted spellings (lower case)
_OBJECT_COLUMNS = {
    "object_id": ("identificatie",),
    "status": ("status", "verblijfsobjectstatus"),
    "gebruiksdoel": ("gebruiksdoel", "gebruiksdoelverblijfsobject"),
    "oppervlakte": ("oppervlakte", "oppervlakteverblijfsobject"),
    "nummeraanduiding_id": (
        "nummeraanduiding_hoofdadres_identificatie",
        "hoofdadres_identificatie",
        "hoofdadresnummeraanduidingref",
        "heeftalshoofdadres",
    ),
    "gemeentecode": ("bronhouder_identificatie", "gemeentecode"),
    # the flat layout
    "postcode": ("postcode",),
    "huisnummer": ("huisnummer",),
    "huisletter": ("huisletter",),
    "huisnummertoevoeging": ("toevoeging", "huisnummertoevoeging"),
    "address_status": ("hoofdadres_status", "nummeraanduiding_status"),
    "openbare_ruimte": ("openbare_ruimte_naam", "openbareruimtenaam"),
    "woonplaats": ("woonplaats_naam", "woonplaatsnaam"),
}
_ADDRESS_COLUMNS = {
    "nummeraanduiding_id": ("identificatie",),
    "postcode": ("postcode",),
    "huisnummer": ("huisnummer",),
    "huisletter": ("huisletter",),
    "huisnummertoevoeging": ("toevoeging", "huisnummertoevoeging"),
    "address_status": ("status", "nummeraanduidingstatus"),
    "openbare_ruimte_id": (
        "openbare_ruimte_identificatie",
        "openbareruimteref",
        "ligtaan",
    ),
    "woonplaats_id": ("woonplaats_identificatie", "woonplaatsref", "ligtin"),
}
_STREET_COLUMNS = {
    "openbare_ruimte_id": ("identificatie",),
    "openbare_ruimte": ("naam", "openbare_ruimte_naam", "openbareruimtenaam"),
    "street_woonplaats_id": ("woonplaats_identificatie", "woonplaatsref", "ligtin"),
}
_PLACE_COLUMNS = {
    "woonplaats_id": ("identificatie",),
    "woonplaats": ("naam", "woonplaats_naam", "woonplaatsnaam"),
}
_ID = re.compile(r"^\d{1,16}$")


def read_bag_geopackage(path: str | Path) -> dict[str, pd.DataFrame]:
    """Read the BAG layers of a GeoPackage (others are skipped).

    Parameters
    ----------
    path
        A BAG GeoPackage in either layout described in the module docstring.

    Returns
    -------
    layers
        Layer name (lower case; ``openbare_ruimte`` read as ``openbareruimte``)
        -> frame.

    Raises
    ------
    InputFileError
        When the file is missing or unreadable, or has no ``verblijfsobject``
        layer.
    CRSError
        When a spatial layer declares no CRS.
    """
    path = Path(path)
    wanted = (*BAG_LAYERS, *_LAYER_ALIASES)
    layers = read_layers(path, layers=wanted)
    layers = {_LAYER_ALIASES.get(name, name): frame for name, frame in layers.items()}
    if "verblijfsobject" not in layers:
        found = ", ".join(sorted(layers)) or "none of the BAG layers"
        msg = (
            "not a BAG GeoPackage: no `verblijfsobject` layer (found "
            f"{found}); download the BAG GeoPackage from PDOK or use `data download`"
        )
        raise InputFileError(path, msg)
    return layers


def import_bag(
    layers: Mapping[str, pd.DataFrame],
    *,
    gemeente: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    within: shapely.Geometry | None = None,
    source: object = "BAG",
) -> gpd.GeoDataFrame:
    """Turn BAG layers into the address register of one gemeente or area.

    Parameters
    ----------
    layers
        Layer name -> frame as :func:`read_bag_geopackage` returns them (or
        a ``verblijfsobject`` frame in the flat layout alone).
    gemeente
        Keep the addresses of this gemeentecode (``"GM0168"`` or ``"0168"``).
    bbox
        Keep the addresses inside ``(xmin, ymin, xmax, ymax)`` in EPSG:28992
        metres (edges included).
    within
        Keep the addresses inside this polygon (EPSG:28992), such as the union
        of a gemeente's buurten.
    source
        Name of the input, used in error messages.

    Returns
    -------
    addresses
        The register of :func:`partition.register.prepare_register` with
        :data:`REGISTER_COLUMNS` (``status`` of the object, ``oppervlakte`` in
        m², ``gemeentecode`` as ``GM`` + four digits), ``address_key``, ``x``,
        ``y`` and point geometry in EPSG:28992.

    Raises
    ------
    InputFileError
        For a layer without the columns it needs, or an address that breaks
        the register contract.
    CRSError
        For a spatial layer without CRS.
    BuurtgroepenError
        When the gemeente or area holds none of the addresses.
    """
    started = time.perf_counter()
    objects = _objects(layers, source)
    total = len(objects)
    if "postcode" not in objects:
        objects = _join_addresses(objects, layers, source)

    kept = _keep_in_use(objects)
    kept = _select_area(kept, gemeente=gemeente, bbox=bbox, within=within, total=total)
    register = prepare_register(_register_frame(kept), source=source)
    logger.info(
        "imported %s addresses from %s BAG objects in %.2f s",
        f"{len(register):,}",
        f"{total:,}",
        time.perf_counter() - started,
    )
    return register


def addresses_from_features(features: pd.DataFrame) -> pd.DataFrame:
    """Flat verblijfsobject rows (from the OGC API) as the ``verblijfsobject`` layer.

    Parameters
    ----------
    features
        One row per feature: its properties and ``x``/``y`` in EPSG:28992.

    Returns
    -------
    layer
        A GeoDataFrame in EPSG:28992 that :func:`import_bag` takes as
        ``{"verblijfsobject": layer}``.
    """
    geometry = gpd.points_from_xy(features["x"], features["y"], crs=RD_NEW)
    frame = features.drop(columns=["x", "y"])
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=RD_NEW)


def normalise_bag_gemeente(value: object) -> str:
    """The four digits of a gemeentecode (``"GM0168"`` -> ``"0168"``).

    Raises
    ------
    BuurtgroepenError
        When `value` is not a gemeentecode (a name, or more than four digits).
    """
    match = re.match(r"^\s*(?:GM)?\s*(\d{1,4})\s*$", str(value), re.IGNORECASE)
    if not match or int(match[1]) == 0:
        msg = (
            f"`gemeente` must be a gemeentecode such as GM0168, got a value shaped "
            f"{value_shape(value)}; BAG files carry codes, not names"
        )
        raise BuurtgroepenError(msg)
    return f"{int(match[1]):04d}"


def sources_section(
    register: gpd.GeoDataFrame, *, files: list[str], imported_on: str, how: str
) -> str:
    """The BAG block of ``SOURCES.md``: files, date, statuses kept, licence."""
    counts = register["gebruiksdoel"].astype("string").fillna("")
    dwellings = int(counts.str.contains("woonfunctie").sum() + counts.eq("").sum())
    lines = [
        "## BAG addresses",
        "",
        f"- Source: {', '.join(files)}",
        f"- {how} on {imported_on} into `addresses.gpkg` ({len(register):,} "
        f"addresses, of which {dwellings:,} dwellings)",
        "- Publisher: Kadaster (Landelijke Voorziening BAG).",
        f'- Licence: {LICENCE}. Attribution is not required; "{ATTRIBUTION}" '
        "is appreciated.",
        "- Kept: objects with status "
        + ", ".join(f'"{s}"' for s in IN_USE_STATUSES)
        + f', addresses "{ISSUED_ADDRESS_STATUS}" with a postcode; main '
        "addresses only.",
    ]
    return "\n".join(lines) + "\n"


# --- steps ----------------------------------------------------------------------


def _objects(layers: Mapping[str, pd.DataFrame], source: object) -> pd.DataFrame:
    """Addressable objects of all object layers, with their point in RD New."""
    frames = []
    for name in OBJECT_LAYERS:
        if name not in layers:
            continue
        layer = layers[name]
        where = f"{source}, layer `{name}`"
        if not isinstance(layer, gpd.GeoDataFrame) or layer.geometry.name not in layer:
            raise InputFileError(where, "expected a spatial layer (points or polygons)")
        if layer.crs is None:
            msg = f"{where}: the layer declares no CRS; save it with its CRS"
            raise CRSError(msg)
        part = _columns(layer, _OBJECT_COLUMNS, where, _object_required(layer))
        part[["x", "y"]] = _points(layer, where)
        frames.append(part.assign(kind=name))
    if not frames:
        raise InputFileError(source, "no `verblijfsobject` layer")
    return pd.concat(frames, ignore_index=True)


def _columns(
    layer: pd.DataFrame,
    spellings: Mapping[str, tuple[str, ...]],
    where: object,
    required: tuple[str, ...],
) -> pd.DataFrame:
    """The known columns of a layer under their canonical names."""
    lower = {str(c).lower(): c for c in layer.columns}
    picked = {}
    for canonical, names in spellings.items():
        original = next((lower[n] for n in names if n in lower), None)
        if original is not None:
            picked[canonical] = layer[original].to_numpy()
    frame = pd.DataFrame(picked, index=pd.RangeIndex(len(layer)))

    missing = [c for c in required if c not in frame.columns]
    if missing:
        expected = ", ".join(f"`{spellings[c][0]}`" for c in missing)
        found = ", ".join(map(str, layer.columns))
        msg = f"missing column {expected}; found {found}"
        raise InputFileError(where, msg, field=spellings[missing[0]][0])
    for col in ("nummeraanduiding_id", "object_id", "openbare_ruimte_id"):
        if col in frame:
            frame[col] = _bag_id(frame[col])
    for col in ("woonplaats_id", "street_woonplaats_id"):
        if col in frame:
            frame[col] = _bag_id(frame[col], width=4)
    return frame


def _object_required(layer: pd.DataFrame) -> tuple[str, ...]:
    """Columns an object layer needs: the address itself (flat) or its link."""
    lower = {str(c).lower() for c in layer.columns}
    if {"postcode", "huisnummer"} <= lower:
        return ("status", "postcode", "huisnummer", "openbare_ruimte", "woonplaats")
    return ("status", "nummeraanduiding_id")


def _points(layer: gpd.GeoDataFrame, where: object) -> np.ndarray:
    """One point per object in RD New: the point, or a point on the polygon."""
    geometry = layer.geometry.to_crs(RD_NEW)
    missing = geometry.isna() | geometry.is_empty
    if missing.any():
        row = int(np.flatnonzero(missing.to_numpy())[0])
        raise InputFileError(where, "object without geometry", row=row + 1)
    points = shapely.point_on_surface(shapely.force_2d(geometry.to_numpy()))
    return np.column_stack([shapely.get_x(points), shapely.get_y(points)])


def _bag_id(values: pd.Series, width: int = 16) -> pd.Series:
    """BAG identifiers as zero-padded text (files may store them as numbers)."""
    text = pd.Series(values, dtype="object").astype("string").str.strip()
    text = text.str.replace(r"\.0$", "", regex=True).replace("", pd.NA)
    digits = text.str.match(_ID).fillna(False)
    return text.where(~digits, text.str.zfill(width))


def _join_addresses(
    objects: pd.DataFrame, layers: Mapping[str, pd.DataFrame], source: object
) -> pd.DataFrame:
    """Linked layout: objects -> nummeraanduiding -> openbare ruimte -> woonplaats."""
    for name in ("nummeraanduiding", "openbareruimte", "woonplaats"):
        if name not in layers:
            msg = (
                f"the `verblijfsobject` layer has no address columns and the "
                f"`{name}` layer is missing; pass a complete BAG GeoPackage"
            )
            raise InputFileError(source, msg)
    numbers = _columns(
        layers["nummeraanduiding"],
        _ADDRESS_COLUMNS,
        f"{source}, layer `nummeraanduiding`",
        ("nummeraanduiding_id", "postcode", "huisnummer", "openbare_ruimte_id"),
    )
    streets = _columns(
        layers["openbareruimte"],
        _STREET_COLUMNS,
        f"{source}, layer `openbareruimte`",
        ("openbare_ruimte_id", "openbare_ruimte", "street_woonplaats_id"),
    )
    places = _columns(
        layers["woonplaats"],
        _PLACE_COLUMNS,
        f"{source}, layer `woonplaats`",
        ("woonplaats_id", "woonplaats"),
    )

    # one row per object; the address's own woonplaats link wins over the street's
    joined = objects.merge(
        numbers.drop_duplicates("nummeraanduiding_id"),
        on="nummeraanduiding_id",
        how="left",
        validate="many_to_one",
    )
    joined = joined.merge(
        streets.drop_duplicates("openbare_ruimte_id"),
        on="openbare_ruimte_id",
        how="left",
    )
    if "woonplaats_id" not in joined:
        joined["woonplaats_id"] = pd.NA
    joined["woonplaats_id"] = joined["woonplaats_id"].fillna(
        joined["street_woonplaats_id"]
    )
    joined = joined.merge(
        places.drop_duplicates("woonplaats_id"), on="woonplaats_id", how="left"
    )

    unlinked = joined["postcode"].isna() & joined["huisnummer"].isna()
    if unlinked.any():
        logger.warning(
            "%d BAG objects link to no nummeraanduiding in the file and are left out",
            int(unlinked.sum()),
        )
    return joined[~unlinked.to_numpy()].reset_index(drop=True)


def _keep_in_use(objects: pd.DataFrame) -> pd.DataFrame:
    """Objects in use, with an issued address that has a postcode."""
    status = _squeezed(objects["status"])
    in_use = status.isin([s.casefold() for s in IN_USE_STATUSES]).to_numpy()
    issued = np.ones(len(objects), dtype=bool)
    if "address_status" in objects:
        address = _squeezed(objects["address_status"])
        issued = (
            address.isna() | address.eq(ISSUED_ADDRESS_STATUS.casefold())
        ).to_numpy()
    postcode = objects["postcode"].astype("string").str.strip()
    has_postcode = (postcode.notna() & postcode.ne("")).to_numpy()

    keep = in_use & issued & has_postcode
    logger.info(
        "kept %s of %s BAG objects (%s not in use, %s address not issued, %s "
        "without postcode)",
        f"{int(keep.sum()):,}",
        f"{len(objects):,}",
        f"{int((~in_use).sum()):,}",
        f"{int((in_use & ~issued).sum()):,}",
        f"{int((in_use & issued & ~has_postcode).sum()):,}",
    )
    return objects[keep]


def _squeezed(values: pd.Series) -> pd.Series:
    """Status text compared without case and repeated white space."""
    text = values.astype("string").str.strip().str.replace(r"\s+", " ", regex=True)
    return text.str.casefold()


def _select_area(
    objects: pd.DataFrame,
    *,
    gemeente: str | None,
    bbox: tuple[float, float, float, float] | None,
    within: shapely.Geometry | None,
    total: int,
) -> pd.DataFrame:
    """Objects of the gemeente, inside the box and inside the polygon asked for."""
    objects = objects.copy()
    objects["gemeentecode"] = _gemeentecodes(objects)
    keep = np.ones(len(objects), dtype=bool)
    if gemeente is not None:
        code = normalise_bag_gemeente(gemeente)
        keep &= objects["gemeentecode"].eq(f"GM{code}").fillna(False).to_numpy()
    if bbox is not None:
        xmin, ymin, xmax, ymax = bbox
        keep &= objects["x"].between(xmin, xmax).to_numpy()
        keep &= objects["y"].between(ymin, ymax).to_numpy()
    if within is not None:
        keep &= shapely.contains_xy(within, objects["x"], objects["y"])

    if not keep.any():
        codes = sorted(objects["gemeentecode"].dropna().unique())
        held = ", ".join(codes[:5]) + (" and more" if len(codes) > 5 else "")
        asked = " and ".join(
            what
            for what, given in (
                (f"`gemeente` {gemeente}", gemeente is not None),
                (f"`bbox` {bbox}", bbox is not None),
                ("the gemeente polygon", within is not None),
            )
            if given
        )
        msg = (
            f"{asked} holds none of the {len(objects):,} BAG addresses in use "
            f"(of {total:,} objects; gemeentecodes present: {held or 'none'}); "
            "check the code or the box (RD New metres: xmin,ymin,xmax,ymax)"
        )
        raise BuurtgroepenError(msg)
    return objects[keep]


def _gemeentecodes(objects: pd.DataFrame) -> pd.Series:
    """``GM`` codes: the responsible gemeente where given, else the id prefix."""
    ids = objects.get("nummeraanduiding_id", pd.Series(pd.NA, index=objects.index))
    prefix = ids.astype("string").str.slice(0, 4)
    codes = "GM" + prefix.where(prefix.str.match(r"^\d{4}$").fillna(False))
    if "gemeentecode" in objects:
        given = (
            objects["gemeentecode"]
            .astype("string")
            .str.extract(r"^\s*(?:GM)?(\d{1,4})\s*$", flags=re.IGNORECASE)[0]
        )
        given = "GM" + given.str.zfill(4)
        codes = given.fillna(codes)
    return codes


def _register_frame(objects: pd.DataFrame) -> pd.DataFrame:
    """The register contract columns, one row per address."""
    frame = objects.reindex(columns=[*REGISTER_COLUMNS, "x", "y"]).copy()
    for col in ("huisletter", "huisnummertoevoeging"):
        frame[col] = frame[col].astype("string").fillna("")
    frame["oppervlakte"] = pd.to_numeric(frame["oppervlakte"], errors="coerce")
    frame["oppervlakte"] = frame["oppervlakte"].round().astype("Int64")
    frame = frame.reset_index(drop=True)

    # the BAG gives an address once; a second object on the same address (an
    # inconsistency in the source) would break the register's unique key
    key = frame[["postcode", "huisnummer", "huisletter", "huisnummertoevoeging"]]
    normalised = key.astype("string").apply(lambda c: c.str.strip().str.upper())
    repeated = normalised.duplicated().to_numpy()
    if repeated.any():
        logger.warning(
            "%d BAG objects repeat an address of an earlier object; the first is kept",
            int(repeated.sum()),
        )
    return frame[~repeated]
