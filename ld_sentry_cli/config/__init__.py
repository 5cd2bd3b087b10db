"""Configuration as code: locate, parse, validate, edit and save `ldsentry.toml`."""

from ld_sentry_cli.config.editor import add_mapping, remove_mapping
from ld_sentry_cli.config.loader import ConfigFile, check_text, load_config, read_text
from ld_sentry_cli.config.locate import CONFIG_ENV_VAR, DEFAULT_CONFIG_NAME, locate_config

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_NAME",
    "ConfigFile",
    "add_mapping",
    "check_text",
    "load_config",
    "locate_config",
    "read_text",
    "remove_mapping",
]
