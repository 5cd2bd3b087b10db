"""Configuration as code: locate, parse, validate, edit and save `ldsentry.toml`.

The editor (config/editor.py) is imported by the commands that edit, so that `ldsentry validate`
does not load tomlkit.
"""

from ld_sentry_cli.config.loader import ConfigFile, check_text, load_config, read_text
from ld_sentry_cli.config.locate import CONFIG_ENV_VAR, DEFAULT_CONFIG_NAME, locate_config

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_NAME",
    "ConfigFile",
    "check_text",
    "load_config",
    "locate_config",
    "read_text",
]
