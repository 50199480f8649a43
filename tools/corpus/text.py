"""Varied English sentences for the synthesized half of the corpus, from a seeded template grammar.

Written here (no text corpus to license): statements, questions, requests, exclamations, lists,
numbers and dates, in short and long forms, with a vocabulary chosen so that every English phone
(bilabials, labiodentals, rounded and spread vowels, diphthongs) occurs often. Trade-off: templates
are less natural than a book, but they are ours, deterministic, and balanced by construction.
"""

from __future__ import annotations

import random

_NAMES = ("Maria", "Bob", "Paula", "Mister Brown", "Doctor Fuller", "Uncle Vince", "Grandma Ruth", "Julia",
          "Tom", "Beth", "Owen", "Zoe", "Peter", "the mayor", "our boss", "my neighbour", "the pilot",
          "Aunt Molly", "Professor Moore", "the new baby", "Hugo", "Yuki", "Chloe", "Sam", "Fiona")
_NOUNS = ("book", "map", "boat", "movie", "phone", "pumpkin", "window", "bubble", "moon", "room", "shoe",
          "umbrella", "fish", "violin", "bottle", "cookie", "puzzle", "blue box", "wolf", "feather", "mirror",
          "museum", "pool", "fountain", "bamboo", "broom", "yoghurt", "pebble", "village", "valley", "voice",
          "father", "mother", "bridge", "jacket", "garden", "kitchen", "thunder", "rainbow", "orange", "bottle of milk",
          "photograph", "computer", "bicycle", "envelope", "oven", "truth", "opera", "youth choir", "window frame")
_PLACES = ("in the kitchen", "at the museum", "by the pool", "under the bridge", "near the beach", "on the boat",
           "in Boston", "at the zoo", "behind the barn", "up the mountain", "inside the theatre", "over the moon",
           "at the bus stop", "in the village", "in the office", "at home", "on the roof", "in the woods")
_VERBS_PAST = ("bought", "moved", "opened", "found", "pushed", "broke", "painted", "lost", "fixed", "played with",
               "followed", "borrowed", "photographed", "forgot", "wrapped", "loved", "chose", "threw", "booked", "viewed")
_VERBS_BASE = ("buy", "move", "open", "find", "push", "paint", "fix", "play with", "follow", "borrow", "choose",
               "throw", "book", "view", "bring", "prove", "remove", "approve", "bake", "improve")
_ADJ = ("beautiful", "blue", "huge", "smooth", "purple", "warm", "bumpy", "foolish", "proud", "moody", "bright",
        "fabulous", "awful", "cheap", "pale", "brave", "wobbly", "vivid", "humble", "peaceful", "rough", "soothing")
_ADV = ("very", "quite", "rather", "truly", "pretty", "so", "awfully", "really", "completely")
_TIMES = ("yesterday", "this morning", "last Monday", "every Tuesday", "at noon", "tomorrow", "next February",
          "before midnight", "after the movie", "on my birthday", "at half past two", "in a few minutes", "soon")
_FEELINGS = ("happy", "surprised", "worried", "furious", "bored", "amazed", "sorry", "proud", "puzzled", "moved")
_INTERJ = ("Wow", "Oh boy", "Whoa", "Oops", "Hooray", "Hmm", "Oh no", "Phew", "Bravo", "Well")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def _plural(noun: str) -> str:
    head, sep, tail = noun.partition(" of ")
    if head.endswith("f"):
        head = head[:-1] + "ves"
    elif head.endswith(("x", "s", "sh", "ch")):
        head += "es"
    elif head.endswith("y") and head[-2] not in "aeiou":
        head = head[:-1] + "ies"
    else:
        head += "s"
    return head + sep + tail


def _np(r: random.Random) -> str:
    noun = r.choice(_NOUNS)
    if r.random() < 0.5:
        noun = r.choice(_ADJ) + " " + noun
    art = "an" if noun[0] in "aeiou" else "a"
    return r.choice((f"the {noun}", f"{art} {noun}", f"my {noun}", f"your {noun}", f"this {noun}"))


def _subject(r: random.Random) -> str:
    return r.choice(_NAMES) if r.random() < 0.6 else r.choice(("I", "we", "you", "they", "she", "he"))


def _cap(s: str) -> str:
    return s[0].upper() + s[1:] if s else s


def _statement(r):
    return _cap(f"{_subject(r)} {r.choice(_VERBS_PAST)} {_np(r)} {r.choice(_PLACES)} {r.choice(_TIMES)}.")


def _question(r):
    forms = (
        f"did {_subject(r)} really {r.choice(_VERBS_BASE)} {_np(r)}?",
        f"why would anyone {r.choice(_VERBS_BASE)} {_np(r)} {r.choice(_PLACES)}?",
        f"where is {_np(r)} that {r.choice(_NAMES)} {r.choice(_VERBS_PAST)}?",
        f"how many {_plural(r.choice(_NOUNS))} can you see from {r.choice(('here', 'the window', 'the boat'))}?",
        f"would you like to {r.choice(_VERBS_BASE)} {_np(r)} {r.choice(_TIMES)}?",
        f"who {r.choice(_VERBS_PAST)} {_np(r)}?",
    )
    return _cap(r.choice(forms))


def _request(r):
    forms = (
        f"please {r.choice(_VERBS_BASE)} {_np(r)} before {r.choice(_NAMES)} comes back.",
        f"could you {r.choice(_VERBS_BASE)} {_np(r)} {r.choice(_PLACES)}, please?",
        f"remember to {r.choice(_VERBS_BASE)} {_np(r)} {r.choice(_TIMES)}.",
        f"don't {r.choice(_VERBS_BASE)} {_np(r)} without asking me first.",
    )
    return _cap(r.choice(forms))


def _exclamation(r):
    return f"{r.choice(_INTERJ)}! {_cap(_np(r))} is {r.choice(_ADV)} {r.choice(_ADJ)}!"


def _feeling(r):
    return _cap(f"{_subject(r)} felt {r.choice(_ADV)} {r.choice(_FEELINGS)} when {_subject(r)} "
                f"{r.choice(_VERBS_PAST)} {_np(r)}.")


def _numbers(r):
    forms = (
        f"The meeting moved to {r.choice(_MONTHS)} {r.randint(1, 28)}, {r.randint(1990, 2031)}.",
        f"My number is {r.randint(200, 999)} {r.randint(100, 999)} {r.randint(1000, 9999)}.",
        f"We paid {r.randint(2, 999)} dollars for {r.randint(2, 12)} {_plural(r.choice(_NOUNS))}.",
        f"Room {r.randint(100, 950)} is on floor {r.randint(2, 40)}.",
        f"It is {r.randint(1, 12)} {r.choice(('fifteen', 'thirty', 'forty five', 'o clock'))} and {r.randint(50, 99)} degrees outside.",
    )
    return r.choice(forms)


def _list(r):
    items = [_np(r) for _ in range(r.randint(3, 4))]
    return _cap(f"{_subject(r)} packed {', '.join(items[:-1])} and {items[-1]}.")


def _long(r):
    return f"{_statement(r)[:-1]}, but {_subject(r)} {r.choice(_VERBS_PAST)} {_np(r)} {r.choice(_PLACES)} instead."


_FORMS = ((_statement, 4), (_question, 3), (_request, 2), (_exclamation, 1), (_feeling, 2), (_numbers, 1),
          (_list, 1), (_long, 2))


def sentence(r: random.Random) -> str:
    """One sentence (sometimes two) drawn from the grammar with ``r``."""
    funcs, weights = zip(*_FORMS)
    first = r.choices(funcs, weights)[0](r)
    if r.random() < 0.25:
        return first + " " + r.choices(funcs, weights)[0](r)
    return first


def sentences(n: int, seed: int) -> list[str]:
    """``n`` sentences, the same for the same seed."""
    r = random.Random(seed)
    return [sentence(r) for _ in range(n)]
