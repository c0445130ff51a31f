"""The words beginners use for programming ideas, mapped to the words a Python course uses for them.

A beginner asks how to make text "capital letters", why a program "runs forever", what to do when it "crashed";
the lesson says `upper()`, infinite loop, traceback. Keyword search cannot bridge that, and a small static
embedding model bridges it only weakly, so a question's search terms are widened with the course's words for
what it says (`expansions`). The map is meant to be general: how beginners talk about Python, not the wording of
one course or question set (`docs/tutor.md` says how it was measured on questions written after it). Each entry
adds words, it never removes the question's own, so a question that already uses the course's words loses
nothing. Words a beginner uses in other senses too ("even", "order", "help") are keyed only in phrases that mean
the concept ("is even").

Keys are lower-case words or phrases of words; each word also matches its -s, -es, -ed and -ing forms.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9]+")

# Phrase or word a beginner uses -> the words lessons use for it.
BEGINNER_WORDS: dict[str, str] = {
    # Errors and crashes.
    "crash": "error traceback exception",
    "blew up": "error traceback exception",
    "broke": "error traceback",
    "broken": "error traceback",
    "red text": "error traceback",
    "mistake": "error",
    "bug": "error",
    "complain": "error",
    "wont work": "error",
    "doesnt work": "error",
    "not working": "error",
    "undefined": "nameerror defined",
    "doesnt exist": "nameerror defined",
    "out of range": "indexerror index",
    "out of bounds": "indexerror index",
    # Running a program.
    "make it go": "run script",
    "make it run": "run script",
    "execute": "run",
    "launch": "run",
    "start program": "run script",
    "command line": "terminal",
    "cmd": "terminal",
    "console": "terminal interactive prompt",
    "shell": "interactive prompt repl",
    "arrows": "interactive prompt",
    "quit": "exit",
    "get out": "exit",
    "leave": "exit",
    "set up": "install",
    "download": "install",
    "ide": "editor",
    "program in": "editor",
    "compile": "interpreted interpreter",
    # Storing values.
    "store": "variable assignment",
    "remember": "variable assignment",
    "save value": "variable assignment",
    "label": "variable name",
    "box": "variable",
    "equals sign": "assignment",
    "naming": "name",
    "overwrite": "reassigning",
    "change value": "reassigning",
    "points to": "refer reassigning",
    "switch": "swap",
    "type of": "type",
    # Numbers.
    "whole number": "int",
    "decimal": "float",
    "decimals": "float",
    "left over": "remainder modulo",
    "leftover": "remainder modulo",
    "divisible": "remainder modulo",
    "is even": "remainder modulo",
    "is odd": "remainder modulo",
    "even number": "remainder modulo",
    "odd number": "remainder modulo",
    "even or odd": "remainder modulo",
    "round down": "floor division",
    "squared": "power",
    "to the power": "power",
    "exponent": "power",
    "maths": "arithmetic",
    "math": "arithmetic",
    "calculate": "arithmetic",
    "calculator": "arithmetic",
    # Text.
    "text": "string str",
    "sentence": "string str",
    "word": "string",
    "letter": "character string",
    "character": "string",
    "capital": "upper",
    "capitals": "upper",
    "uppercase": "upper",
    "caps": "upper",
    "small letters": "lower",
    "lowercase": "lower",
    "glue": "concatenation join",
    "combine": "concatenation join",
    "stick together": "concatenation",
    "put inside": "f-string",
    "insert into": "f-string",
    "fill in": "f-string",
    "format": "f-string",
    "placeholder": "f-string",
    "piece": "slice",
    "part of": "slice",
    "substring": "slice",
    "cut": "slice",
    "chop": "slice split",
    "break apart": "split",
    "separate": "split",
    "spaces": "strip",
    "whitespace": "strip",
    "trim": "strip",
    "how long": "len length",
    "length": "len",
    "size": "len",
    "quotes": "string",
    # Converting.
    "convert": "int str float converting",
    "turn into": "int str float converting",
    "change into": "int str float converting",
    "cast": "converting",
    "typed in": "input",
    "ask user": "input",
    "user type": "input",
    "keyboard": "input",
    # Lists.
    "bunch": "list",
    "collection": "list",
    "group of": "list",
    "array": "list",
    "several values": "list",
    "many values": "list",
    "add to end": "append",
    "add item": "append",
    "delete": "remove pop",
    "get rid of": "remove pop",
    "erase": "remove pop",
    "take out": "remove pop",
    "position": "index",
    "spot": "index",
    "nth": "index",
    "biggest": "max",
    "largest": "max",
    "highest": "max",
    "smallest": "min",
    "lowest": "min",
    "alphabetical": "sort sorted",
    "arrange": "sort sorted",
    "duplicate": "copy",
    "clone": "copy",
    "changed too": "copy refer same list mutable",
    "also changed": "copy refer same list mutable",
    "contains": "in",
    "exists in": "in",
    # Decisions.
    "decide": "if condition conditionals",
    "decision": "if condition conditionals",
    "choose between": "if elif else",
    "depending on": "if condition",
    "otherwise": "else",
    "else if": "elif",
    "both": "and",
    "at the same time": "and",
    "either": "or",
    "yes or no": "boolean true false",
    "true or false": "boolean",
    "same as": "equal comparison",
    "equal to": "equal comparison",
    "compare": "comparison",
    "bigger than": "comparison",
    "greater than": "comparison",
    "less than": "comparison",
    "empty": "truthiness false",
    "counts as": "truthiness",
    "indent": "indented indentation block",
    "spacing": "indentation",
    # Loops.
    "repeat": "loop",
    "repeating": "loop",
    "over and over": "loop",
    "again and again": "loop",
    "times": "loop range",
    "forever": "infinite loop while",
    "endless": "infinite loop while",
    "infinite": "infinite loop while",
    "never ends": "infinite loop while",
    "never stops": "infinite loop while",
    "wont stop": "infinite loop while",
    "keeps going": "infinite loop while",
    "keeps running": "infinite loop while",
    "stuck": "infinite loop",
    "freezes": "infinite loop",
    "go through": "for loop",
    "go thru": "for loop",
    "goes through": "for loop",
    "go over": "for loop",
    "iterate": "for loop",
    "every item": "for loop",
    "each item": "for loop",
    "each letter": "for loop",
    "one by one": "for loop",
    "stop early": "break",
    "exit loop": "break",
    "get out of loop": "break",
    "break out": "break",
    "skip": "continue",
    "next round": "continue",
    "count": "accumulator loop",
    "total": "accumulator sum",
    "add up": "sum accumulator",
    "sequence of numbers": "range",
    "numbers from": "range",
    "index and": "enumerate",
    "position and": "enumerate",
    "counter": "enumerate accumulator",
    # Functions.
    "reuse": "function def",
    "reusable": "function def",
    "own command": "function def",
    "my own": "function def",
    "subroutine": "function",
    "procedure": "function",
    "give back": "return",
    "gives back": "return",
    "send back": "return",
    "output": "return print",
    "optional": "default",
    "by name": "keyword argument",
    "named argument": "keyword argument",
    "inputs": "parameters arguments",
    "global": "scope local",
    "outside": "scope local",
    "inside function": "scope local",
    "description": "docstring",
    "document": "docstring",
    "explain": "docstring",
    # Showing things.
    "show": "print",
    "display": "print",
    "print out": "print",
    "nothing shows": "print",
    "screen": "print",
}

_SUFFIXES = ("ing", "ed", "es", "s")


def _phrases_by_first_word() -> dict[str, list[tuple[tuple[str, ...], list[str]]]]:
    """The map as a lookup: first word -> (the phrase's other words, its terms)."""
    index: dict[str, list[tuple[tuple[str, ...], list[str]]]] = {}
    for phrase, terms in BEGINNER_WORDS.items():
        first, *rest = phrase.split()
        index.setdefault(first, []).append((tuple(rest), terms.split()))
    return index


_PHRASES = _phrases_by_first_word()


def _forms(word: str) -> list[str]:
    """The word and what it is with one common suffix taken off ("crashed" -> "crash", "crashe")."""
    stems = [word[: -len(suffix)] for suffix in _SUFFIXES if word.endswith(suffix) and len(word) > len(suffix) + 2]
    return [word, *stems]


def expansions(question: str) -> list[str]:
    """The course's words for what `question` says in a beginner's words, each once, in the question's order."""
    words = [_forms(word) for word in _WORD.findall(question.lower().replace("'", ""))]
    found: list[str] = []
    for start, first in enumerate(words):
        for form in first:
            for rest, terms in _PHRASES.get(form, ()):
                following = words[start + 1 : start + 1 + len(rest)]
                if len(following) == len(rest) and all(
                    word in forms for word, forms in zip(rest, following, strict=True)
                ):
                    found.extend(terms)
    return list(dict.fromkeys(found))
