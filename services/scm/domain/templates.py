"""Which config template suits a repository: its top language, refined by its build files.

The rule of the original server (original-server.md §9): Java with `pom.xml` at the root is
Maven, with `build.gradle` Gradle; JavaScript with `package.json` is NodeJS; otherwise the
language as the SCM spells it (`Go`, `Python`, ...), "" when the SCM knows none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

REFINED = {
    "Java": (("pom.xml", "Maven"), ("build.gradle", "Gradle"), ("build.gradle.kts", "Gradle")),
    "Kotlin": (("build.gradle.kts", "Gradle"), ("build.gradle", "Gradle"), ("pom.xml", "Maven")),
    "JavaScript": (("package.json", "NodeJS"),),
    "TypeScript": (("package.json", "NodeJS"),),
}


def top_language(languages: Mapping[str, float]) -> str:
    """The language with the most code; ties go to the first name alphabetically, so the
    answer does not depend on the order the SCM lists them in. Entries that are not sizes
    (PyGithub adds the request's `url` to the map) are not languages."""
    sized = {k: float(v) for k, v in languages.items() if isinstance(v, int | float)}
    if not sized:
        return ""
    return min(sized, key=lambda name: (-sized[name], name))


def needs_root(language: str) -> bool:
    """Whether the root listing can change the answer (saves a request otherwise)."""
    return language in REFINED


def template_type(languages: Mapping[str, float], root_names: Iterable[str] = ()) -> str:
    language = top_language(languages)
    names = set(root_names)
    for build_file, template in REFINED.get(language, ()):
        if build_file in names:
            return template
    return language


def build_file_type(root_names: Iterable[str]) -> str:
    """Without language statistics (Subversion): the build file at the root decides."""
    names = set(root_names)
    for build_file, template in (
        ("pom.xml", "Maven"),
        ("build.gradle", "Gradle"),
        ("build.gradle.kts", "Gradle"),
        ("package.json", "NodeJS"),
        ("go.mod", "Go"),
        ("requirements.txt", "Python"),
        ("setup.py", "Python"),
        ("pyproject.toml", "Python"),
        ("composer.json", "PHP"),
    ):
        if build_file in names:
            return template
    return ""


def is_dockerfile(path: str) -> bool:
    return path.rsplit("/", 1)[-1] == "Dockerfile"
