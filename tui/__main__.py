"""`python -m tui` / `ardoise tui`: look at the machine, then hand over to the App."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from appliance.cli import kernel_cmdline_value
from appliance.i18n import set_language
from appliance.paths import default_data_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ardoise tui")
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--lang", default=None)
    parser.add_argument("--device", action="append", default=[])
    args = parser.parse_args(argv)
    set_language(args.lang or os.environ.get("ARDOISE_LANG") or kernel_cmdline_value("ardoise.lang"))
    from appliance import survey
    from tui.app import main as run_app

    data_dir = args.data or default_data_dir()
    snapshot = survey.take(survey.locate_config(args.config, data_dir), data_dir,
                           args.device or None)
    return run_app(snapshot)


if __name__ == "__main__":
    sys.exit(main())
