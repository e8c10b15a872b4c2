"""griffe extension: the docstrings' numpydoc roles become links on the API pages.

attnlab's docstrings are numpydoc, read in a terminal with ``help()`` as much as on the site, so
they cross-reference with Sphinx roles: ``:func:`show_heatmaps```, ``:data:`METHODS```,
``:class:`~attnlab.plotting.HeatmapDisplay```. mkdocstrings renders docstrings as Markdown, where
those roles would show as they are. Before any docstring is parsed, this extension rewrites each
role as a mkdocstrings cross-reference, ``[`show_heatmaps`][attnlab.plotting.show_heatmaps]``,
which autorefs turns into a link to the object's entry (and ``mkdocs build --strict`` fails on
a link whose target no page documents). The docstrings in the package are left unchanged.

1. **Roles.** ``:func:``, ``:meth:``, ``:class:``, ``:data:``, ``:attr:``, ``:mod:``, ``:obj:``,
   ``:exc:`` and ``:const:``, with or without the ``py:`` domain; ``~`` shows the last
   component only, and ``title <target>`` shows the title.
2. **Names.** A name is looked up as Python would from where the docstring is (the object, its
   class, its module: ``:meth:`plot``` in a class docstring), then as a path from ``attnlab``,
   then, if exactly one public object of the package has that name, as that object. The link
   points at the object's canonical path, which mkdocstrings registers wherever it is rendered.
3. **Outside attnlab.** A role naming anything else (``torch.nn.MultiheadAttention``) becomes
   inline code: the site links nothing it cannot check offline.

Used from mkdocs.yml: ``plugins: mkdocstrings: handlers: python: options: extensions:``.
"""

from __future__ import annotations

import re

import griffe

ROLE = re.compile(
    r":(?:py:)?(?:func|meth|class|data|attr|mod|obj|exc|const):`(?P<tilde>~?)(?P<body>[^`]+)`"
)
EXPLICIT_TITLE = re.compile(r"^(?P<title>.+?)\s*<(?P<target>[^<>]+)>$")


class RolesToCrossReferences(griffe.Extension):
    """Rewrite numpydoc roles in every docstring of a package as mkdocstrings cross-references."""

    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        self.package = pkg
        self.by_name: dict[str, set[str]] = {}
        objects = list(_walk(pkg))
        for obj in objects:
            if obj.is_public:
                self.by_name.setdefault(obj.name, set()).add(obj.canonical_path)
        for obj in objects:
            if obj.docstring is not None and ROLE.search(obj.docstring.value):
                obj.docstring.value = ROLE.sub(
                    lambda match, obj=obj: self._reference(match, obj), obj.docstring.value
                )

    def _reference(self, match: re.Match, scope: griffe.Object) -> str:
        body = match["body"].strip()
        explicit = EXPLICIT_TITLE.match(body)
        name = explicit["target"] if explicit else body
        name = name.removesuffix("()")
        if explicit:
            shown = explicit["title"]
        elif match["tilde"]:
            shown = name.rsplit(".", 1)[-1]
        else:
            shown = body
        target = self._resolve(name, scope)
        return f"[`{shown}`][{target}]" if target else f"`{shown}`"

    def _resolve(self, name: str, scope: griffe.Object) -> str | None:
        """The canonical path of ``name`` as seen from ``scope``, or None outside the package."""
        first, _, rest = name.partition(".")
        candidates = []
        try:
            resolved = scope.resolve(first)
            candidates.append(f"{resolved}.{rest}" if rest else resolved)
        except griffe.NameResolutionError:
            pass
        root = self.package.name
        if first == root:
            candidates.append(name)
        for path in candidates:
            found = self._lookup(path)
            if found is not None:
                return found
        if first == root or "." not in name:
            owners = self.by_name.get(name.rsplit(".", 1)[-1], set())
            if len(owners) == 1:
                return next(iter(owners))
        return None

    def _lookup(self, path: str) -> str | None:
        root = self.package.name
        if path != root and not path.startswith(f"{root}."):
            return None
        obj: griffe.Object | griffe.Alias = self.package
        for part in path.split(".")[1:]:
            try:
                obj = obj.members[part]
            except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
                return None
        try:
            return obj.final_target.canonical_path if obj.is_alias else obj.canonical_path
        except (griffe.AliasResolutionError, griffe.CyclicAliasError):
            return None


def _walk(obj: griffe.Object):
    """Every object defined in the package (aliases share their target's docstring: skipped)."""
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)
