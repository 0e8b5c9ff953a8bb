"""Commands that read the stick (cert show/pdf, spool list) speak the workshop's language:
the config's `language` (DATA/ardoise.yaml or ardoise.config=, files only: no network for
this) unless --lang was given, as `ardoise run` does."""

from __future__ import annotations

import argparse
import logging

from appliance.i18n import set_language

log = logging.getLogger(__name__)


def follow_config(args: argparse.Namespace) -> None:
    if getattr(args, "lang", None) or getattr(args, "top_lang", None):
        return
    from appliance.cli import kernel_cmdline_value
    from appliance.config import ConfigError, load_from, locate

    location = locate(None, args.data, kernel_cmdline_value("ardoise.config"))
    if location is None or location.startswith(("http://", "https://")):
        return
    try:
        language = load_from(location).language
    except (ConfigError, OSError) as exc:  # the command itself does not need the config
        log.info("config %s not read for its language: %s", location, exc)
        return
    if language:
        set_language(language)
