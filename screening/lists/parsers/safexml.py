"""Streaming, hardened XML reading for list files.

Rules (security): no DTDs at all (so no entity-expansion bombs and no external entities),
no network, a byte limit enforced while reading, and memory kept flat by detaching every
record element once it has been handled.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from xml.etree.ElementTree import Element, ParseError

from defusedxml import (
    DefusedXmlException,
    DTDForbidden,
    EntitiesForbidden,
    ExternalReferenceForbidden,
)
from defusedxml import ElementTree as SafeET

from .errors import ListParseError
from .source import DEFAULT_MAX_BYTES, display_name, open_limited


def local(tag: str) -> str:
    """Tag name without its namespace (OFAC and EU files changed namespaces over time)."""
    return tag.rsplit("}", 1)[-1] if tag[:1] == "{" else tag


def text(elem: Element | None) -> str:
    """Stripped text of an element, '' when absent."""
    if elem is None or elem.text is None:
        return ""
    return elem.text.strip()


def child(elem: Element, name: str) -> Element | None:
    """First direct child with local name `name`."""
    for c in elem:
        if local(c.tag) == name:
            return c
    return None


def children(elem: Element, name: str) -> Iterator[Element]:
    """Direct children with local name `name`."""
    for c in elem:
        if local(c.tag) == name:
            yield c


def child_text(elem: Element, name: str) -> str:
    return text(child(elem, name))


def stream(
    path: str | os.PathLike[str],
    record_tags: Iterable[str],
    *,
    root_tags: Iterable[str] = (),
    header_tags: Iterable[str] = (),
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Iterator[tuple[str, Element]]:
    """Yield `(local_tag, element)` for each complete record or header element.

    `root_tags`, when given, is the set of accepted document element names: any other root
    is refused as "not a <format> file". Record elements are detached after the consumer
    has seen them, so memory does not grow with the file.
    """
    name = display_name(path)
    records = set(record_tags)
    wanted = records | set(header_tags)
    roots = set(root_tags)
    stack: list[Element] = []
    open_wanted = 0  # wanted elements currently open (their children must stay attached)
    fh = open_limited(path, max_bytes=max_bytes)
    try:
        parser = SafeET.iterparse(
            fh, events=("start", "end"), forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
        for event, elem in parser:
            tag = local(elem.tag)
            if event == "start":
                if not stack:
                    if roots and tag not in roots:
                        raise ListParseError(
                            name,
                            f"element <{tag}>",
                            "unexpected document element; expected <{}>".format(
                                "> or <".join(sorted(roots))
                            ),
                        )
                    if tag in wanted:
                        yield tag, elem  # root attributes (dates) are complete at start
                elif tag in wanted:
                    open_wanted += 1
                stack.append(elem)
                continue
            stack.pop()
            if not stack:
                continue
            if tag in wanted:
                open_wanted -= 1
                if open_wanted == 0 or tag not in records:
                    yield tag, elem
                if open_wanted == 0:
                    stack[-1].remove(elem)
            elif open_wanted == 0:
                # Finished subtree outside any wanted element: drop it to keep memory flat.
                stack[-1].remove(elem)
    except ParseError as exc:
        line, col = exc.position
        problem = str(exc).split(":", 1)[0]
        if "no element found" in problem:
            problem = "XML ends unexpectedly (file truncated?)"
        elif "invalid token" in problem or "not well-formed" in problem:
            problem = f"XML is not well-formed ({problem}; wrong encoding or corrupt file?)"
        raise ListParseError(name, f"line {line}, column {col + 1}", problem) from None
    except DTDForbidden:
        raise ListParseError(
            name,
            "DOCTYPE",
            "DTD declarations are refused (entity expansion / external entity risk)",
        ) from None
    except EntitiesForbidden as exc:
        raise ListParseError(
            name, f"entity {exc.name!r}", "entity declarations are refused (entity-expansion bomb?)"
        ) from None
    except ExternalReferenceForbidden as exc:
        raise ListParseError(
            name, f"external reference {exc.sysid!r}", "external entities are refused"
        ) from None
    except DefusedXmlException as exc:
        raise ListParseError(name, "", f"unsafe XML refused ({exc})") from None
    finally:
        fh.close()
