"""The built site as a host serves it: every internal link and image resolves, and the page chrome
(favicon, logo, no launch button, the charts' one bundle) is there. Reads the session's strict smoke build
(`smoke_book`)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from bs4 import BeautifulSoup


@lru_cache(maxsize=None)
def _soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def _ids(path: Path) -> set[str]:
    soup = _soup(path)
    named = {tag["name"] for tag in soup.find_all("a", attrs={"name": True})}
    return {tag["id"] for tag in soup.find_all(id=True)} | named


def _redirect(page: Path) -> str | None:
    """The target of a `<meta http-equiv="Refresh">` stub (the site's index.html is one), else None."""
    meta = _soup(page).find("meta", attrs={"http-equiv": lambda v: v and v.lower() == "refresh"})
    return meta["content"].split("url=", 1)[1].strip() if meta else None


def _internal(url: str) -> bool:
    parts = urlsplit(url)
    return not (parts.scheme or parts.netloc or url.startswith(("mailto:", "javascript:", "data:")))


def _target(page: Path, url: str) -> tuple[Path, str]:
    parts = urlsplit(url)
    path = (page.parent / unquote(parts.path)).resolve() if parts.path else page
    return (path / "index.html" if path.is_dir() else path), unquote(parts.fragment)


@pytest.fixture(scope="module")
def pages(smoke_book) -> tuple[Path, list[Path]]:
    html = smoke_book[1] / "_build" / "html"
    return html, sorted(p for p in html.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts)


@pytest.mark.slow
def test_every_internal_link_and_image_resolves(pages):
    html, found = pages
    assert (html / "book" / "_executed" / "06-explorer.html") in found
    broken, checked = [], 0
    for page in found:
        soup = _soup(page)
        urls = [("meta", "url", _redirect(page))] if _redirect(page) else []
        urls += [(tag, attr, element[attr]) for tag, attr in (("a", "href"), ("img", "src"), ("link", "href"),
                                                              ("script", "src"))
                 for element in soup.find_all(tag, attrs={attr: True})]
        for tag, attr, url in urls:
            if not _internal(url):
                continue
            checked += 1
            target, fragment = _target(page, url)
            where = f"{page.relative_to(html)}: <{tag} {attr}={url!r}>"
            if not target.is_file():
                broken.append(f"{where} -> missing {target}")
            elif fragment and tag == "a" and target.suffix == ".html" and fragment not in _ids(target):
                broken.append(f"{where} -> no id {fragment!r} in {target.relative_to(html)}")
    assert not broken, "\n".join(broken[:30])
    assert checked > 20 * len(found), f"only {checked} internal links and images in {len(found)} pages"


@pytest.mark.slow
def test_pages_carry_a_favicon_a_logo_and_no_launch_button(pages):
    html, found = pages
    for page in found:
        if page.name in {"genindex.html", "search.html"} or _redirect(page):
            continue
        soup = _soup(page)
        icon = soup.find("link", rel=lambda rel: rel and "icon" in rel)
        assert icon is not None and _target(page, icon["href"])[0].is_file(), f"{page.name}: no favicon"
        logo = soup.select_one("img.logo__image")
        assert logo is not None and _target(page, logo["src"])[0].is_file(), f"{page.name}: no logo image"
        assert not soup.select(".dropdown-launch-buttons a[href]"), f"{page.name}: a launch button (see _config.yml)"


@pytest.mark.slow
def test_chart_pages_load_the_one_bundle_and_keep_a_static_figure(pages):
    html, found = pages
    bundles = [p for p in html.rglob("*.js") if p.name == "ftax-charts.js"]
    assert len(bundles) == 1, bundles
    for page in found:
        soup = _soup(page)
        charts = soup.select("div.ftax-chart")
        loads = [s["src"] for s in soup.find_all("script", src=True) if "ftax-charts.js" in s["src"]]
        assert len(loads) == (1 if charts else 0), f"{page.name}: {len(charts)} charts, bundle loaded {len(loads)}x"
        for chart in charts:
            assert chart.find("script", type="application/json") is not None
            assert chart.find("noscript") is not None, f"{page.name}: no static figure without JavaScript"
        scripts = [s.get_text() for s in soup.find_all("script") if not s.get("src") and "THEBE_JS_URL" in s.get_text()]
        assert len(scripts) <= 1, f"{page.name}: sphinx-thebe's configuration twice"
    explorer = _soup(html / "book" / "_executed" / "06-explorer.html")
    assert explorer.select_one("article figure div.ftax-chart[data-name=explorer]") is not None
    assert "jupyter-widgets" not in str(explorer) and "require.min.js" not in str(explorer)
