"""The report as a person sees it, in a real headless Chromium driven by
Selenium: cards, images that load, filters, search, lineage links, the
before/after slider after a prompt change, and live reload.

Needs Debian's ``chromium`` and ``chromium-driver``; without them the tests
skip, except under ``CI=true``, where they fail (``.ci/run`` installs them).
Set ``IMAGEBUILD_REPORT_SCREENSHOT=docs/report.png`` to save the screenshot
of the before/after report that the README shows.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import chdir
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import pytest
from PIL import Image, ImageChops, ImageStat

from imagebuild.cli import main
from imagebuild.report.page import bump_reload_stamp, write_page

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT = "IMAGEBUILD_REPORT_SCREENSHOT"
HOSTILE = '</script><img src=x onerror="window.pwned = 1"><!--'

Driver = Any  # selenium's WebDriver, imported only when the browser is there


def missing_browser() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.is_file():
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Driver]:
    reason = missing_browser()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser tests must run in CI: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``manifests/campaign.yaml`` built on the local provider, in its own folder."""
    folder = tmp_path_factory.mktemp("campaign")
    shutil.copy(ROOT / "manifests" / "campaign.yaml", folder / "campaign.yaml")
    shutil.copytree(ROOT / "manifests" / "prompts", folder / "prompts")
    manifest = folder / "campaign.yaml"
    assert main(["build", str(manifest), "--provider", "local"]) == 0
    return manifest


def report(manifest: Path, *argv: str) -> Path:
    assert main(["report", str(manifest), "--provider", "local", *argv]) == 0
    return manifest.parent / "report" / "index.html"


def wait_for(condition: Callable[[], Any], seconds: float = 10.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def cards(driver: Driver) -> list[str]:
    names: list[str] = driver.execute_script(
        "return Array.from(document.querySelectorAll('.card h2')).map(h => h.textContent)"
    )
    return names


def choose(driver: Driver, select_id: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", select_id)).select_by_value(value)


def loaded(driver: Driver, image: Any) -> bool:
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", image)
    return bool(
        wait_for(
            lambda: driver.execute_script(
                "return arguments[0].complete && arguments[0].naturalWidth > 0", image
            )
        )
    )


def shot(element: Any) -> Image.Image:
    return Image.open(BytesIO(element.screenshot_as_png)).convert("RGB")


def thumbnail(image: Any) -> Image.Image:
    """The file an <img> shows, as Pillow reads it."""
    path = url2pathname(urlparse(image.get_attribute("src")).path)
    return Image.open(path).convert("RGB")


def distance(seen: Image.Image, picture: Image.Image) -> float:
    """Mean difference per channel (0-255) between what the page shows and a picture."""
    difference = ImageChops.difference(seen.resize(picture.size), picture)
    return sum(ImageStat.Stat(difference).mean) / 3


def test_one_card_per_target_and_every_image_loads(browser: Driver, campaign: Path) -> None:
    browser.get(report(campaign).as_uri())
    assert sorted(cards(browser)) == sorted(
        ["hero", "hero-night"]
        + [
            f"hero-{channel}"
            for channel in (
                "instagram-square",
                "instagram-story",
                "facebook-feed",
                "x-post",
                "linkedin",
                "web-banner",
                "print-a5",
            )
        ]
    )
    assert browser.find_element("id", "shown").text == "showing 9 of 9"
    assert browser.find_element("id", "summary").text.startswith("9 targets · 9 up to date")
    images = browser.find_elements("css selector", ".card img")
    assert len(images) == 9
    for image in images:
        assert loaded(browser, image), image.get_attribute("src")
    full_size = browser.find_element("css selector", "#t-hero .media").get_attribute("href")
    assert full_size.endswith("/out/campaign/hero.png")
    assert browser.get_log("browser") == []  # no script errors, no failed loads


def test_filters_hide_cards_and_search_finds_them(browser: Driver, campaign: Path) -> None:
    browser.get(report(campaign).as_uri())
    choose(browser, "filter-provider", "local")
    assert sorted(cards(browser)) == ["hero", "hero-night"]
    choose(browser, "filter-provider", "derive")
    assert len(cards(browser)) == 7
    assert browser.find_element("id", "shown").text == "showing 7 of 9"
    choose(browser, "filter-provider", "")
    search = browser.find_element("id", "search")
    search.send_keys("print")
    assert wait_for(lambda: cards(browser) == ["hero-print-a5"])
    search.clear()
    search.send_keys("RAIN-slick")  # in hero's prompt, whatever the case
    assert wait_for(lambda: cards(browser) == ["hero"])


def test_lineage_links_reveal_the_card_even_when_filtered_out(
    browser: Driver, campaign: Path
) -> None:
    browser.get(report(campaign).as_uri())
    choose(browser, "filter-provider", "derive")
    assert "hero-night" not in cards(browser)
    link = browser.find_element("css selector", "#t-hero-x-post .lineage a")
    assert link.text == "hero-night"
    link.click()
    assert len(cards(browser)) == 9  # the filters made way
    target = browser.find_element("id", "t-hero-night")
    assert "highlight" in target.get_attribute("class")
    assert browser.execute_script("return location.hash") == "#t-hero-night"
    top = browser.execute_script("return arguments[0].getBoundingClientRect().top", target)
    assert 0 <= top < browser.execute_script("return innerHeight")
    upstream = target.find_element("css selector", ".lineage a")
    assert upstream.text == "hero"
    upstream.click()
    assert "highlight" in browser.find_element("id", "t-hero").get_attribute("class")


def test_the_slider_moves_between_before_and_after_a_prompt_change(
    browser: Driver, campaign: Path
) -> None:
    from selenium.webdriver.common.keys import Keys

    old = campaign.with_name("old.lock.json")
    shutil.copy(campaign.with_name("campaign.lock.json"), old)
    original = campaign.read_text()
    campaign.write_text(original.replace("a glass teapot", "a copper teapot"))
    try:
        with chdir(campaign.parent):  # the page names the files as the user did
            assert main(["build", "campaign.yaml"]) == 0
            assert main(["report", "campaign.yaml", "--against", "old.lock.json"]) == 0
    finally:
        campaign.write_text(original)
    browser.get(campaign.with_name("report").joinpath("index.html").as_uri())
    assert browser.find_element("id", "summary").text == (
        "9 targets · 9 up to date · 9 changed · compared with old.lock.json"
    )
    card = browser.find_element("id", "t-hero")
    assert card.find_element("css selector", ".change-changed").text == "changed"
    before = card.find_element("css selector", ".frame img.before")
    after = card.find_element("css selector", ".frame img.after")
    assert loaded(browser, before) and loaded(browser, after)
    frame = card.find_element("css selector", ".frame")
    divider = card.find_element("css selector", ".frame .divider")
    wipe = card.find_element("css selector", ".wipe")
    assert after.value_of_css_property("clip-path") == "inset(0px 0px 0px 50%)"
    wipe.send_keys(Keys.HOME)
    assert after.value_of_css_property("clip-path") == "inset(0px 0px 0px 0%)"
    all_after = shot(frame)
    wipe.send_keys(Keys.END)
    assert after.value_of_css_property("clip-path") == "inset(0px 0px 0px 100%)"
    assert divider.location["x"] - frame.location["x"] == pytest.approx(frame.size["width"], abs=2)
    all_before = shot(frame)
    old_picture, new_picture = thumbnail(before), thumbnail(after)
    # At 0 the frame shows the new picture, at 100 the old one (labels and
    # scaling aside: about 4 levels from the right one, 10 to 20 from the other).
    assert distance(all_after, new_picture) * 2 < distance(all_after, old_picture)
    assert distance(all_before, old_picture) * 2 < distance(all_before, new_picture)
    if os.environ.get(SCREENSHOT):
        wipe.send_keys(Keys.HOME)
        for _ in range(55):
            wipe.send_keys(Keys.ARROW_RIGHT)
        browser.execute_script("scrollTo(0, 0)")
        browser.save_screenshot(os.environ[SCREENSHOT])
    card.find_element("css selector", ".modes button[data-mode='diff']").click()
    difference = card.find_element("css selector", "img.difference")
    assert loaded(browser, difference)
    assert difference.is_displayed() and not after.is_displayed()
    note = card.find_element("css selector", ".note").text
    assert note.startswith("before: old.lock.json · ") and note.endswith("% of pixels differ")
    card.find_element("css selector", ".modes button[data-mode='side']").click()
    assert before.location["x"] + before.size["width"] <= after.location["x"]


def test_unchanged_new_and_removed_targets_are_marked(browser: Driver, tmp_path: Path) -> None:
    manifest = tmp_path / "imagebuild.yaml"
    text = (
        "version: 1\ndefaults:\n  model: local\n  width: 16\n  height: 16\ntargets:\n"
        "  - name: same\n    prompt: one\n  - name: edited\n    prompt: two\n"
        "  - name: dropped\n    prompt: three\n"
    )
    manifest.write_text(text)
    assert main(["build", str(manifest)]) == 0
    shutil.copy(tmp_path / "imagebuild.lock.json", tmp_path / "old.lock.json")
    manifest.write_text(
        text.replace("prompt: two", "prompt: two more").replace("name: dropped", "name: added")
    )
    assert main(["build", str(manifest)]) == 0
    browser.get(report(manifest, "--against", str(tmp_path / "old.lock.json")).as_uri())
    marks = {
        name: browser.find_element("css selector", f"#t-{name} [class^='badge change-']").text
        for name in ("same", "edited", "added", "dropped")
    }
    assert marks == {"same": "unchanged", "edited": "changed", "added": "new", "dropped": "removed"}
    dropped = browser.find_element("id", "t-dropped")
    assert loaded(browser, dropped.find_element("css selector", ".media img"))
    choose(browser, "filter-change", "changed")
    assert cards(browser) == ["edited"]
    choose(browser, "filter-status", "removed")
    assert cards(browser) == []
    choose(browser, "filter-change", "")
    assert cards(browser) == ["dropped"]


def test_hostile_strings_stay_text_and_tags_filter(browser: Driver, tmp_path: Path) -> None:
    manifest = tmp_path / "imagebuild.yaml"
    manifest.write_text(
        "version: 1\ndefaults:\n  model: local\n  width: 16\n  height: 16\ntargets:\n"
        f"  - name: a\n    prompt: '{HOSTILE}'\n    tags: ['{HOSTILE}', shared]\n"
        "  - name: b\n    prompt: plain\n    tags: [shared]\n"
        "  - name: c\n    prompt: plain\n"
    )
    assert main(["build", str(manifest)]) == 0
    browser.get(report(manifest).as_uri())
    assert browser.execute_script("return window.pwned") is None
    assert browser.find_element("css selector", "#t-a .prompt").text == HOSTILE
    assert browser.find_elements("css selector", "#t-a .tag")[0].text == HOSTILE
    choose(browser, "filter-tag", "shared")
    assert sorted(cards(browser)) == ["a", "b"]
    choose(browser, "filter-tag", HOSTILE)
    assert cards(browser) == ["a"]


def synthetic_card(number: int, count: int) -> dict[str, Any]:
    """A card as the gallery writes it, without images (the page shows placeholders)."""
    return {
        "key": f"t{number}",
        "name": f"t{number}",
        "section": 0,
        "status": "keep",
        "reasons": [],
        "provider": "local",
        "model": "local",
        "prompt": f"prompt {number}",
        "seed": number,
        "cost": None,
        "estimate": None,
        "builtAt": "",
        "tags": [],
        "transform": [],
        "upstream": [f"t{count - 1}"] if number == 0 else [],
        "derived": [],
        "change": None,
        "images": [{"path": f"out/{number}.png", "href": None, "thumb": None}],
        "before": [],
    }


def test_ten_thousand_cards_are_rendered_a_window_at_a_time(
    browser: Driver, tmp_path: Path
) -> None:
    count = 10_000
    payload = {
        "cards": [synthetic_card(number, count) for number in range(count)],
        "sections": ["imagebuild.yaml"],
        "baselines": [None],
    }
    page = write_page(tmp_path, "many", payload).as_uri()
    browser.get(page)
    # A busy machine may still show the last test's page, or this one before its
    # 10,000-card payload is parsed, when Selenium's load wait returns.
    in_page = wait_for(lambda: browser.current_url == page and len(cards(browser)))
    assert 0 < in_page <= 120, browser.get_log("browser")

    def scrolled_to_the_end() -> bool:
        # Scrolled again on each try: a page still laying out may miss one scroll.
        browser.execute_script("scrollTo(0, document.body.scrollHeight)")
        return len(cards(browser)) > in_page

    assert wait_for(scrolled_to_the_end)
    browser.execute_script("scrollTo(0, 0)")
    browser.find_element("css selector", "#t-t0 .lineage a").click()  # to the very last card
    last = browser.find_element("id", "t-t9999")
    assert "highlight" in last.get_attribute("class")
    assert len(cards(browser)) < 300  # not the 9,999 cards before it
    time.sleep(0.5)  # the window grows upwards, and the card stays in view
    assert cards(browser)[0] != "t9999"
    top = browser.execute_script("return arguments[0].getBoundingClientRect().top", last)
    assert 0 <= top < browser.execute_script("return innerHeight")


def test_a_live_page_reloads_when_its_stamp_is_bumped(browser: Driver, tmp_path: Path) -> None:
    index = write_page(
        tmp_path, "live", {"cards": [], "sections": [], "baselines": []}, live_reload=True
    )
    browser.get(index.as_uri())
    browser.execute_script("window.marker = 'still here'")
    time.sleep(1.5)  # at least one poll of an unchanged stamp
    assert browser.execute_script("return window.marker") == "still here"
    bump_reload_stamp(tmp_path)
    assert wait_for(lambda: browser.execute_script("return window.marker") is None, 5)
