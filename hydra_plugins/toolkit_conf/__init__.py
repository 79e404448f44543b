"""Puts the toolkit's shared config groups (`toolkit/conf`) on every Hydra app's search path,
after the app's own config, so `hydra.searchpath=[file://your_conf]` adds a folder of yours
without dropping them. Hydra finds this plugin in the `hydra_plugins` namespace package."""

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class ToolkitConfSearchPath(SearchPathPlugin):
    """Appends `pkg://toolkit.conf` to the config search path."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        search_path.append(provider="llmserve-toolkit", path="pkg://toolkit.conf")
