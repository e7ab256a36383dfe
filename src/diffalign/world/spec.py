"""Prompt specifications: what a prompt asks for, independent of any image."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .vocab import COLORS, MAX_OBJECTS, NUMBERS, PLURALS, RELATIONS, SHAPES, SIZES, TEXTURES, with_article


@dataclass(frozen=True)
class ObjectSpec:
    """A group of identical objects the prompt asks for; None means 'any'."""

    shape: str
    color: str | None = None
    texture: str | None = None
    size: str | None = None
    count: int = 1

    def matches(self, shape: str, color: str, texture: str, size: str) -> bool:
        return (
            self.shape == shape
            and self.color in (None, color)
            and self.texture in (None, texture)
            and self.size in (None, size)
        )

    def phrase(self, with_count: bool = False) -> str:
        adjectives = [a for a in (self.size, self.color, self.texture) if a]
        noun = PLURALS[self.shape] if self.count > 1 else self.shape
        body = " ".join([*adjectives, noun])
        if with_count or self.count > 1:
            number = {v: k for k, v in NUMBERS.items()}[self.count]
            return f"{number} {body}"
        return with_article(body)


@dataclass(frozen=True)
class PromptSpec:
    """One or two object groups and, for two, an optional relation of the first to the second."""

    objects: tuple[ObjectSpec, ...]
    relation: str | None = None  # one of vocab.RELATIONS values: left, right, above, below
    counted: bool = False  # a number word was used even for a count of one ("one red circle")

    def __post_init__(self) -> None:
        if not 1 <= len(self.objects) <= 2:
            raise ValueError("a prompt describes one or two object groups")
        if self.relation is not None and (len(self.objects) != 2 or any(o.count != 1 for o in self.objects)):
            raise ValueError("a relation needs exactly two single objects")
        if self.n_objects > MAX_OBJECTS:
            raise ValueError(f"at most {MAX_OBJECTS} objects fit in a scene")
        for o in self.objects:
            if o.shape not in SHAPES or o.color not in (None, *COLORS) or o.texture not in (None, *TEXTURES):
                raise ValueError(f"object outside the vocabulary: {o}")
            if o.size not in (None, *SIZES) or not 1 <= o.count <= 4:
                raise ValueError(f"object outside the vocabulary: {o}")

    @property
    def n_objects(self) -> int:
        return sum(o.count for o in self.objects)

    def text(self) -> str:
        """The canonical prompt string; parse(spec.text()) == spec."""
        parts = [o.phrase(with_count=self.counted) for o in self.objects]
        if len(parts) == 1:
            return parts[0]
        if self.relation is None:
            return f"{parts[0]} and {parts[1]}"
        return f"{parts[0]} {relation_phrase(self.relation)} {parts[1]}"

    def with_object(self, index: int, **changes) -> PromptSpec:
        objects = list(self.objects)
        objects[index] = replace(objects[index], **changes)
        return replace(self, objects=tuple(objects))


def relation_phrase(relation: str) -> str:
    """'left' -> 'to the left of', as prompts say it."""
    return {v: k for k, v in RELATIONS.items()}[relation]
