"""The built site as a host serves it: every internal link and image resolves, and the page chrome
(favicon, logo, launch button) is there. Reads the session's strict smoke build (`smoke_book`)."""
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
def test_pages_carry_a_favicon_a_logo_and_the_launch_button(pages):
    html, found = pages
    for page in found:
        if page.name in {"genindex.html", "search.html"} or _redirect(page):
            continue
        soup = _soup(page)
        icon = soup.find("link", rel=lambda rel: rel and "icon" in rel)
        assert icon is not None and _target(page, icon["href"])[0].is_file(), f"{page.name}: no favicon"
        logo = soup.select_one("img.logo__image")
        assert logo is not None and _target(page, logo["src"])[0].is_file(), f"{page.name}: no logo image"
    explorer = _soup(html / "book" / "_executed" / "06-explorer.html")
    launch = [a["href"] for a in explorer.select(".dropdown-launch-buttons a[href]")]
    assert any("mybinder.org" in href for href in launch), launch
    figure = explorer.find("article").find("figure")
    assert figure is not None and figure.find("img") is not None, "the explorer's default view is not rendered"
