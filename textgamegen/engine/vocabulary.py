"""The words a command may start with, and how near a slip is to one of them.

A line that starts with no verb of the parser is a free-form action only when its first
word is a real verb: one of the parser's, one a room of this world answers in its
``attempts`` table, or one of ``COMMON_VERBS`` below, a short list of everyday English
verbs written for this game (no dictionary is copied). Anything else is a slip or a word
the game does not know: "tkae crate" is one slip from "take", and "xyzzy" is near nothing.
Neither is an attempt, so neither costs a turn or is narrated (``actions.freeform``).
"""

from __future__ import annotations

COMMON_VERBS = frozenset(
    """
    accept accuse add admire admit adjust aim allow answer apologise apologize applaud
    argue arrange arrest attack attach avoid awaken bake balance bang bargain bark bathe
    batter beat beckon beg begin believe bend bet bind bite blame bleat bless blink block
    blow blush boast boil bolt borrow bounce bow box brace brag braid break breathe bribe
    brush build bump burn burrow bury buy call calm camp carry carve catch caw celebrate
    chant charge chase chat cheat cheer chew chop circle clap clean clear climb clink cling
    clutch coax collapse comb comfort command complain compliment confess consider
    console cook copy cough count cover crack crash crawl creep croak cross crouch crush
    cry cuddle curl curse curtsey curtsy cut dab dance dare dash daydream deal decide
    defend demand dig dip dive dodge doze drag draw dream dress drift drink drip drive
    drum dry duck dust dye eat echo embrace empty encourage enjoy escape explain explore
    faint fan fasten feed feel fetch fiddle fight fill find finger fish fix flap flatter
    flee flick fling flip float flop fly fold follow forgive frown gallop gamble gape gasp
    gather gaze giggle glance glare glide gnaw gossip grab greet grin grind grip groan
    groom growl grumble grunt guard guess haggle hammer hang harvest hate heal hear heave
    heft help hide hike hiss hit hold hop hope hover howl hug hum hunt hurl hurry ignore
    imagine imitate inspect introduce invite jab jig jiggle jog join joke juggle jump
    keep kick kill kiss kneel knit knock knot laugh launch lay lead lean leap learn lend
    lick lie lift light like limp listen live loosen lose lounge love lower lurk make march
    massage measure meditate meet melt mend meow mime mix moan mock mop mourn mumble
    murmur nap need nibble nod note nudge oil oink order pace pack paddle paint panic pat patch
    pause peek peel peep peer perform pet photograph pinch play plead pluck plunge point
    poke polish ponder pose pour pout practise practice praise pray preach press pretend
    prick promise prod protest pry pull pummel pump punch purr push puzzle quack question
    quiver race raise rake ram rattle reach recite recall relax remember repair repeat
    rescue rest return ride ring rinse rip roar rock roll rouse row rub ruffle run rush
    rustle salute say scare scatter scold scramble scrape scratch scream scribble scrub
    scurry search seal sew shade shake shave shelter shift shine shiver shoo shoot shout
    shove show shriek shrug shuffle sigh sign sing sink sip sit skate sketch skim skip slap
    sleep slide slip slouch smash smell smile smirk smoke snap snarl sneak sneeze sniff
    snore snort snuggle sob soothe speak spell spill spin spit splash spread spring sprint
    squat squeak squeeze squint stab stack stamp stand stare start steal step stick stir
    stomp stop stoop straighten stretch strike stroke stumble sulk summon swallow swat sway
    swear sweep swim swing swipe tap taste tease tear thank think throw tickle tidy tie tip
    tiptoe toss touch trace trade trip trot trust try tug tumble turn twirl twist twitch
    untie unwrap wade wail wake walk wander want warm warn wash watch wave weave weep weigh
    whimper whine whisper whistle win wind wink wipe wish wobble worry wrap wrestle wring
    write yawn yell yodel
    hello hi goodbye thanks yes no sorry
    """.split()
)
"""Everyday English verbs a player may try ("kneel in the aisle"), and the few words a
player says aloud ("hello"), all free-form attempts when no room has a line for them."""

LEAD_WORDS = frozenset(
    {"i", "we", "please", "then", "try", "to", "let", "me", "just", "now", "carefully"}
    | {"gently", "quietly", "slowly", "quickly", "softly", "politely", "again"}
)
"""Words before the verb that are not it: "i want to fly", "please sit", "try to swim".
A line whose first word is itself a verb ("try on the spectacles") counts as that."""

ENDINGS = ("ing", "ed", "es", "s")
"""Endings taken off a word that is not itself known: "kneels", "knocked", "whistling"."""


def verb_of(text: str) -> str:
    """The word that should be the verb of a line: its first word after any lead words
    ("please kneel" -> "kneel"), quotes and punctuation left off; "" for none."""
    words = [word.strip("\"'.,;:!?()") for word in text.casefold().split()]
    words = [word for word in words if word]
    for word in words:
        if word not in LEAD_WORDS:
            return word
    return words[-1] if words else ""


def is_known(word: str, known: frozenset[str]) -> bool:
    """Whether ``word`` or its stem ("knocked" -> "knock", "whistling" -> "whistl(e)")
    is among ``known``."""
    if word in known:
        return True
    for ending in ENDINGS:
        stem = word.removesuffix(ending)
        if stem != word and len(stem) >= 2 and (stem in known or f"{stem}e" in known):
            return True
    return False


def slip_distance(typed: str, word: str, limit: int) -> int:
    """The edits from ``typed`` to ``word``: a letter added, dropped, changed, or two
    side by side swapped (Damerau's optimal alignment); ``limit + 1`` once past ``limit``."""
    if abs(len(typed) - len(word)) > limit:
        return limit + 1
    before: list[int] = []
    row = list(range(len(word) + 1))
    for i in range(1, len(typed) + 1):
        current = [i] + [0] * len(word)
        for j in range(1, len(word) + 1):
            cost = 0 if typed[i - 1] == word[j - 1] else 1
            current[j] = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + cost)
            if (
                i > 1
                and j > 1
                and typed[i - 1] == word[j - 2]
                and typed[i - 2] == word[j - 1]
                and before
            ):
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        before, row = row, current
    return min(row[-1], limit + 1)


def slip_limit(word: str) -> int:
    """How many edits a typed word may be from what was meant: none for one or two
    letters (too many words are that close), one up to five letters, two beyond."""
    if len(word) < 3:
        return 0
    return 1 if len(word) <= 5 else 2


def nearest(typed: str, words: list[str]) -> str:
    """The word of ``words`` a slip of ``typed`` most likely meant (fewest edits, the
    first listed on a tie), or "" when none is near enough."""
    limit = slip_limit(typed)
    best, found = limit + 1, ""
    for word in words:
        if len(word) < 3 or word == typed:
            continue
        distance = slip_distance(typed, word, limit)
        if distance < best:
            best, found = distance, word
    return found
