"""Compile every .po file under src/ into its .mo, without needing GNU gettext installed."""

from pathlib import Path

import polib

for po_path in Path(__file__).resolve().parent.parent.joinpath("src").rglob("*.po"):
    polib.pofile(str(po_path)).save_as_mofile(str(po_path.with_suffix(".mo")))
    print(f"compiled {po_path.with_suffix('.mo')}")
