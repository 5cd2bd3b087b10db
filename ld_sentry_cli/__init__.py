"""ldsentry: administer the LaunchDarkly ⇄ Sentry integration as code."""

__version__ = "0.1.0"
