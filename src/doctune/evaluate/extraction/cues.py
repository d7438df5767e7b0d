"""The words around an option letter that say what the reply does with it.

Each pattern reads a short window of normalised text on one side of a letter: `PRE_*` end where
the letter starts (they are anchored with `$`), `POST_*` start where it ends (anchored with `^`).
They are language data as much as code: English first, then the Chinese, Japanese and Russian
forms that replies in those languages use. Compiled once, case-insensitive.
"""

from __future__ import annotations

import re

_I = re.IGNORECASE

# What may stand between a cue and its letter: punctuation, "option", an opening bracket.
_TAIL = (
    r"[\s,:\-–—→=>]*(?:either\s+)?(?:(?:the|la|el|die|antwort|respuesta|réponse|вариант)\s+)?"
    r"(?:(?:option|choice|letter|answer|(?:a\s+)?alternativa|réponse|respuesta|opci[oó]n|選択肢|选项)\s*)?"
    # Portuguese "é a letra D".
    r"(?:(?:a\s+)?letra\s+)?[(\[{]?\s*$"
)
_NEG_TAIL = r"\s*(?:(?:option|choice|answer)\s*)?[(\[{]?\s*$"
_ADVERB = r"(?:\s+(?:\w+ly|therefore|thus|then|still|indeed|also))?"
_VERB = r"(?:is|are|was|would\s+be|should\s+be|must\s+be|will\s+be|has\s+to\s+be)"

# -- before the letter ----------------------------------------------------------------------------
PRE_NEGATION = re.compile(
    r"(?:\bnot|\bisn'?t|\bnever|\bno|\bnor|\bneither|\bnone\s+of|\brul(?:e|ed|ing)\s+out"
    r"|\beliminat\w*|\bexclud\w*|\bexcept|\brather\s+than(?:\s+(?:from|by|in|at|on|with))?"
    r"|\binstead\s+of|\bover|\bagainst|\bnicht|\bkeine?|\bpas|(?-i:\bni)|\bне|\bнет|\bno\s+(?:es|son|era)"
    # "A common wrong answer is B": an answer named as a mistake.
    r"|\b(?:wrong|incorrect|false|mistaken|tempting|trap|distractor|common(?:\s+wrong)?)\s+"
    r"(?:answer|choice|option|pick)s?\s*(?:is|are|would\s+be|:)?"
    r"|\b(?:in)?correct\s*(?:ones?|options?)?\s*(?:are|is)?\s*not|\b(?:incorrect|wrong|false)\s*[:=]"
    r"|\bcan(?:no|')t\s+(?:possibly\s+)?be|\bcould\s*n[o']t\s+be"
    r"|(?:\bnot|\bnever|n't)\s+(?:choose|pick|select|go(?:ing)?\s+(?:with|for)|opt\s+for|take"
    r"|answer|say)|\b(?:mistake|error)\s+to\s+(?:pick|choose|select|go\s+with|answer)"
    r"|\b(?:rejected|eliminated|excluded|ruled_out)\s*[:=]\s*\[?(?:\w\s*,\s*){0,4}"
    r"|不是|也不是|并非|而非)" + _NEG_TAIL,
    _I,
)
# Doubt about the letter that follows ("I'm not sure it's A"): no commitment, and a withdrawal
# of the same letter committed before it.
PRE_DOUBT = re.compile(
    r"\b(?:not\s+(?:sure|certain|convinced)|unsure|doubt(?:ful)?)\s+(?:that\s+|whether\s+|if\s+"
    r"|about\s+)?(?:it'?s\s+|it\s+is\s+|the\s+answer\s+is\s+)?(?:(?:option|choice)\s+)?[(\[]?\s*$",
    _I,
)
# "..., and so is A": the letter takes the verdict of the sentence before it.
SO_IS = re.compile(r"\b(?:and\s+)?(?:so|as)\s+(?:is|are|was|does|did)\s*$", _I)
# A committed letter taken back without naming another ("The answer is B. Wait, no, it isn't").
WITHDRAWAL = re.compile(
    r"\b(?:wait|hmm|actually|no)\W{0,4}(?:no\W{0,4})?(?:it\s+(?:isn'?t|is\s+not|can'?t\s+be)"
    r"|that'?s\s+(?:wrong|not\s+right)|scratch\s+that)|\bi\s+take\s+(?:that|it)\s+back"
    r"|\bwait\W{1,4}no\s*[.!]"
    # "the closest option is: B. 81.19 W ... However, this option is not correct": disowned.
    r"|\b(?:this|that)\s+(?:option|choice|answer)\s+(?:is|would\s+be)\s+not\s+(?:the\s+)?"
    r"(?:correct|right)\b",
    _I,
)
# A correction introduces the letter that replaces an earlier one ("C. Wait, actually D").
PRE_REVISION = re.compile(
    r"(?:\bwait|\bactually|\bno\s*[,.!—–-]|\bcorrection\s*:?|\bscratch\s+that|\bi\s+meant?"
    r"|\bon\s+(?:second\s+thought|reflection)|\binstead|\bjust\s+kidding|\btypo\b[^.\n]{0,40}"
    r"|不对|いや)" + _TAIL,
    _I,
)
PRE_STRONG = re.compile(
    r"(?:\banswers?\s*(?:"
    + _VERB
    + _ADVERB
    + r"|you'?re\s+looking\s+for\s+is|of\s+this\s+question\s+is)"
    r"|\b(?:correct|right|best|true|final|closest|likely|my|our|the\s+only|correct\s+final"
    r"|most\s+(?:defensible|plausible|likely|reasonable|sensible|accurate|appropriate))"
    # "The closest answer choice is (B)": an answer's choice is the same word twice.
    r"\s+(?:final\s+|answer\s+)?(?:answer|choice|option|response|pick|guess|selection|one)s?"
    # "the best option for determining subsistence practices is (D)": what it is best for.
    r"(?:\s+(?:for|to|in|among)\s+[^.;:!?\n()]{1,60}?\s+(?:is|would\s+be|will\s+be|must\s+be)"
    r"|(?:\s+(?:here\s+|then\s+)?(?:is|would\s+be|will\s+be|must\s+be))?)"
    + _ADVERB
    # "selected_option: C", a key of a JSON answer: the underscore is a word character.
    + r"|(?:\b|(?<=_))(?:answer|correct|right|solution|choice|option|pick|guess|selection|verdict|response"
    r"|result|final|ответ|antwort|antwoord|respuesta|réponse|risposta|resposta|alternativa"
    r"|정답|답|答)\s*(?:[:=→—]|\s[-–](?=\s))"
    r"|\b(?:(?:die|la|el|a|le|il|het)\s+)?(?:richtige\s+|juiste\s+|correcta\s+|bonne\s+|correcte\s+"
    r"|corretta\s+|correta\s+)?(?:antwort|antwoord|respuesta|réponse|risposta|resposta|lösung)\s+"
    r"(?:correcta\s+|correcte\s+|correta\s+|corretta\s+)?(?:ist|is|es|est|è|é)"
    r"(?:\s+(?:donc|also|por\s+lo\s+tanto|quindi))?"
    r"|(?:정답|답)\s*(?:은|는)|\bαπάντηση\s+(?:είναι\s+)?(?:η\s+)?"
    r"|\brichtig\s+ist(?:\s+also)?|\balso\s+ist|\bbleibt\s+nur|\bpor\s+lo\s+tanto(?:,?\s+la\s+respuesta\s+es)?"
    r"|\bc'est(?:\s+donc)?(?:\s+la\s+réponse)?|\bsomit(?:\s+ist)?|即|\bзначит|\bправильный\s+(?:ответ|вариант)\s*[—:-]?"
    r"|\b(?:choose|chose|choosing|pick|picked|picking|select|selected|selecting|go\s+with"
    r"|going\s+with|went\s+with|opt\s+for|opting\s+for|settle\s+on|stick\s+with|i'?d\s+say"
    r"|i\s+say|i'?ll\s+say|i'?ll\s+answer|go(?:ing)?\s+for|i'?ll\s+take)"
    # "i think its b": a sloppy reply drops the apostrophe (not the possessive "its C atom").
    r"|(?:^|\b(?:think|guess|say|sure)\s+)its"
    r"|\b(?:it|that|this)\s*(?:'s|is|must\s+be|has\s+to\s+be|would\s+be|should\s+be"
    r"|will\s+be)"
    + _ADVERB
    + r"|\b(?:so|thus|therefore|hence|ergo|finally|overall|definitely|clearly|obviously|surely"
    r"|certainly|only)"
    r"|\bleav(?:es|ing)|\bleft\s+with|\blautet|\bremaining\s+(?:candidate|option|choice|one)\b[^.\n]{0,60}?\bis"
    r"|\bif\s+i\s+(?:must|had\s+to|have\s+to)\s+(?:answer|choose|pick|guess)"
    r"|(?:答案|答え|正解|最终答案|本题答案)\s*(?:是|为|は|應為|应为|就是|应该是)?"
    r"|(?:我选择|选择|故选|应该选|应选|选|我认为是|应该是|就是|[,，]\s*是|^\s*是)"
    r"|\bmakes\s+(?:it|the\s+answer)|\bi(?:'d|\s+would)\s+answer|\bil\s+s'agit(?:\s+donc)?\s+de"
    r"|したがって|よって|従って|つまり|所以|因此|正确选项\s*(?:是|为)?"
    # German "Also D." opens its sentence with "so", not the English "also".
    r"|^\s*(?-i:Also)"
    r"|\b(?:je\s+choisis|je\s+choisirais|j'?opte\s+pour|elijo|elegir[ií]a|escojo|me\s+quedo\s+con"
    r"|ich\s+wähle|ich\s+nehme|sceglierei"
    r"|scelgo)"
    r"|\b(?:opci[oó]n|respuesta|réponse|option|risposta|antwort)\s+(?:correcta|correcte"
    r"|corretta|correta|richtige)\s+(?:es|est|è|é|ist))" + _TAIL,
    _I,
)
PRE_WEAK = re.compile(
    r"(?:\banswers?|\b(?:probably|likely|maybe|perhaps|possibly|presumably)"
    r"|\blean(?:ing|s)?\s+(?:towards?|to)|\b(?:could|might|may)\s+be"
    r"|\bcorrespond(?:s|ing)?\s+to|\bmatch(?:es|ing)?|\bpoint(?:s|ing)?\s+to"
    r"|\bdescribed\s+(?:in|by)|\bconsistent\s+with|\bin\s+line\s+with|\bagrees?\s+with"
    r"|\bfits|\bsupports?|对应选项|对应|\bwhich\s*(?:'s|is|must\s+be|would\s+be))" + _TAIL,
    _I,
)
# "Option B." as a sentence of its own, in apposition ("..., option D."), or at the end of an
# arrow or a pointing hand ("Force → newton → D.", "👉 C"): the sentence names the letter. (An
# arrow inside a sentence is a reaction scheme: "A → B is the first step".)
OPTION_NAMED = re.compile(
    r"(?:(?:^|,|:\s*(?=r[ée]ponse|respuesta|antwort|answer))\s*(?:the\s+)?(?:option|choice|answer|opci[oó]n|réponse|respuesta|antwort"
    r"|вариант|選択肢|选项)|(?:→|⇒|=>|👉|➡)\s*(?:(?:option|choice|answer)\s*)?)\s*[(\[]?\s*$",
    _I,
)
# "... is C." and "...: C." at the end of a sentence: the sentence exists to name the letter.
PRE_ENDING = re.compile(r"(?:\bis|:)\s*[(\[]?\s*$", _I)

# -- after the letter -----------------------------------------------------------------------------
# What may follow a letter before its predicate: a bracket, the option's text in brackets.
_HEAD = r"^\s*[)\]}]?\s*(?:\([^()\n]{0,80}\)\s*)?[,:]?\s*"
POST_REJECTION = re.compile(
    _HEAD + r"(?:(?:is|are|was|seems|looks|appears)\s+(?:also\s+|definitely\s+|clearly\s+"
    r"|obviously\s+|both\s+|therefore\s+|all\s+)?(?:not\b|wrong|incorrect|false|unlikely"
    r"|implausible|invalid|inaccurate|out\b|too\b|eliminated|ruled\s+out|contradict\w*"
    r"|a\s+(?:trap|distractor|common\s+(?:mistake|error)|mistake))"
    r"|(?:(?:definitely|clearly|obviously|certainly)\s+)?(?:wrong|incorrect|false)\b(?!\s*:)"
    r"|isn'?t|aren'?t|doesn'?t|does\s+not|fails|ignores|overestimat\w*|underestimat\w*"
    r"|overshoots|undershoots|(?:is_?)?correct\s*:\s*(?:false|no)\b"
    r"|contradicts|comes\s+later|,?\s*but\s+(?:that'?s|that\s+is|it'?s)\s+not\s+what(?:'?s|\s+is|\s+was)"
    r"\s+(?:being\s+)?asked"
    r"|cannot|can'?t\s+be|(?:can|could|may)\s+be\s+(?:ruled\s+out|eliminated|excluded|dismissed)"
    r"|too\s+\w+|[-–—]\s*(?:incorrect|wrong|false|no\b|too\b|not\b)|\?\s*no\b"
    r"|(?:项|选项)?\s*(?:错误|不对|不正确)|(?:は|が)\s*(?:誤り|間違|不正解)"
    r"|(?:ist|sind|est|es|è)\s+(?:\w+\s+)?(?:falsch|faux|fausse|incorrect[ao]?|errat[ao]|inexact[ae]?)"
    r"|kommt\s+nicht|(?:тоже\s+|также\s+)?(?:невер(?:е?н)|неправильн|ошибочн)\w*|не\s+подходит)",
    _I,
)
# Named, then disowned in the same sentence ("The closest option is (J) 132, but it is not the
# correct answer"): the reply says it is not its answer.
POST_DISOWNED = re.compile(
    r"^(?:[^.;!?\n]|\.(?=\d)){0,60}?,?\s*but\s+(?:it|this|that)(?:'s|\s+is)\s+not\s+(?:the\s+)?"
    r"(?:correct|right|actual|true|exact)\b",
    _I,
)
# A verdict after the letter's gloss ("Option C – Sulfuric acid: not correct here", "- D. 1588
# — ruled out"); read only where nothing before the letter states it as the answer.
GLOSSED_REJECTION = re.compile(
    r"^\s*[)\].]?\s*(?:[–—-]\s*)?[^\s:;.!?\n—–][^:;.!?\n—–]{0,79}?(?::|\s[—–])\s*"
    r"(?:(?:this|it|that)\s+)?(?:(?:is|was|does)\s+)?(?:not\b|(?:is|does)n'?t\b|wrong\b"
    r"|incorrect\b|false\b|ruled\s+out|eliminated|excluded)",
    _I,
)
POST_STRONG = re.compile(
    _HEAD + r"(?:(?:is|are|seems|looks?|appears|sounds|must\s+be|should\s+be|seems\s+to\s+be"
    r"|stands\s+out\s+as)\s+(?:definitely\s+|clearly\s+|therefore\s+|obviously\s+|also\s+"
    r"|both\s+)?"
    r"(?:the\s+)?(?:most\s+|only\s+|more\s+)?(?:correct|right|best|true|accurate|valid|answer"
    r"|plausible|likely|appropriate|consistent|reasonable|one\b|my\b|better|preferable"
    r"|closer)"
    r"|it\s+is\b|for\s+sure|(?:definitely|certainly|obviously|clearly)(?=\s*(?:[.!]|$))"
    # "which makes E the correct choice", "I consider B the best answer".
    r"|the\s+(?:correct|right|best|only\s+correct)\s+(?:answer|choice|option|one)\b"
    r"|accounts\s+for|fits|matches|describes|says|corresponds"
    r"|(?:is_?)?correct\s*:\s*(?:true|yes)\b"
    r"|edges?\s+(?:it\s+)?out|wins\b|prevails|comes\s+out\s+ahead"
    r"|\?\s*yes\b"
    r"|(?:ist|est|es|è)\s+(?:richtig|korrekt|correct[ae]?|juste|corrett[ao])\b"
    r"|(?:选项)?\s*(?:正确|对)|(?:が|は)\s*正[しい解]|を選|です|になります|입니다|(?:가|이)\s*맞"
    # German puts the verb last: "Ich würde A wählen" ("... A nicht wählen" stays a mention).
    r"|(?:wählen|nehmen|ankreuzen)\b)",
    _I,
)
POST_WEAK = re.compile(
    _HEAD + r"(?:(?:would|could|might)\s+be\s+(?:the\s+)?(?:correct|right|best|answer)"
    r"|,?\s*because\b|吧)",
    _I,
)
# A verdict right after "X:" ("A: no. B: no. C: yes.").
POST_VERDICT_NO = re.compile(r"^\s*[)\]]?\s*:\s*(?:no|nope|incorrect|wrong|false)\b", _I)
POST_VERDICT_YES = re.compile(r"^\s*[)\]]?\s*:\s*(?:yes|correct|right|true)\b(?!\s*\?)", _I)
POST_QUESTION = re.compile(r"^\s*[)\]}]?\s*\?")
# A hedge before an asked letter makes it a guess, not a question ("Probably B? Maybe.").
PRE_HEDGE = re.compile(r"\b(?:probably|likely|maybe|perhaps|possibly)\s*[(\[]?\s*$", _I)
# What a letter stands for, said of it ("The option B refers to thymine"): no verdict.
POST_GLOSS = re.compile(
    r"^\s*[\"')\]]*\s*(?:refers?\s+to|stands?\s+for|denotes|represents|means)\b", _I
)

# A label that states the answer, whatever follows it ("The correct choice is the one about").
ANSWER_LABEL = re.compile(
    r"\b(?:correct|right|final|best)\s+(?:answer|choice|option)\s*(?:is|:)\s*(?:the\s+)?"
    r"(?!not\b|n't|none\b|neither\b)\w|\brichtig\s+ist(?:\s+also)?\s*:?\s*\w|(?:正确选项|正确答案|答案|答え|正解)\s*(?:为|是|は)?\s*[:：]?\s*(?!不)\w",
    _I,
)
# A sentence that opens by rejecting everything it names ("None of A, B or D is right").
NONE_OF = re.compile(r"^\s*(?:none\s+of|neither)\b", _I)
PREDICATE = re.compile(r"\b(?:is|are|was|leaves?|so|but|which|then)\b", _I)
# A reply that declines to pick after naming letters ("I'll leave this one to you").
REFUSAL = re.compile(
    r"\b(?:can(?:no|')t|cannot|unable\s+to|won'?t)\s+(?:give|pick|choose|select|determine"
    r"|decide|commit)|\bleave\s+(?:this|it)\s+(?:one\s+)?to\s+you|\bno\s+single\s+(?:correct\s+)?answer"
    r"|\b(?:rather\s+not|should\s*(?:n'?t|\s+not)|would\s*(?:n'?t|\s+not)|won'?t|don'?t\s+want\s+to"
    r"|don'?t\s+think\s+i\s+should|prefer\s+not\s+to)\s+(?:\w+\s+)?guess"
    r"|\bdon'?t\s+think\s+i\s+can\s+(?:select|choose|pick|give)|\bnicht\s+entscheiden"
    r"|\bleave\s+(?:this|it)\s+(?:one\s+)?(?:unanswered|blank|open)"
    r"|\brefrain\s+from\s+(?:picking|choosing|answering|guessing)|\bno\s+puedo\s+(?:elegir|decidir|escoger)"
    r"|\bne\s+(?:peux|sais)\s+pas\s+(?:choisir|décider|trancher)|決められ|選べ(?:ません|ない)"
    r"|답할\s*수\s*없|无法确定|无法回答|不能确定|わかりません|分かりません|答えできません"
    r"|答えを出すことはできません|回答できません|控えさせていただきます",
    _I,
)

# A reply that ends by saying it is lost ("... no wait, that's D. I'm confused."): what it
# committed to on the way is no answer.
CONFUSED_END = re.compile(
    r"\b(?:i'?m|i\s+am)\s+(?:so\s+|really\s+|just\s+)?(?:confused|lost|not\s+sure\s+anymore)"
    r"\s*[.!]*\s*$|\bi\s+(?:really\s+)?(?:don'?t|do\s+not)\s+know\s*[.!]*\s*$"
    r"|\b(?:going|go)\s+back\s+and\s+forth\s+between\b[^.!?]*[.!]*\s*$",
    _I,
)

# -- the sentence around it -----------------------------------------------------------------------
# A condition before the letter ("If the ratio were 1:1, the answer would be B"), unless it is
# the forced choice of a grader's instruction ("If I had to choose, I'd pick C").
HYPOTHETICAL_BEFORE = re.compile(
    r"\b(?:if|unless|assuming|suppose|supposing|were\s+it|wenn|falls|если)\b"
    # "provided (that) the gas is ideal" sets a condition; "the information provided, ..."
    # and "the data provided in the table" only say where something came from.
    # "the options provided do not include it": a verb right after it, so "provided" was a participle.
    r"|\bprovided\b(?!\s*[,.;:)\]]|\s+(?:above|below|here|earlier|in|by|with)\b"
    r"|\s+(?:do|does|did|is|are|was|were|has|have|had|include[sd]?|contain(?:s|ed)?|show(?:s|ed)?"
    r"|seem(?:s|ed)?|match(?:es|ed)?|lists?|give[sn]?|suggests?)\b)"
    # "depends on whether B or C": open up to the letter; "regardless of whether ..., C" is not.
    r"|(?<!of\s)(?<!matter\s)\bwhether\b(?=[^,;.]*$)"
    r"|\bwould\s+(?:point|suggest|indicate|favou?r)\b|如果|假如|もし|なら|라면",
    _I,
)
# A hedge about memory is no condition on the question either ("If I recall correctly, B").
FORCED_CHOICE = re.compile(
    r"\bif\s+(?:i\s+(?:must|had\s+to|have\s+to|were\s+forced)|forced"
    r"|i\s+(?:recall|remember)\s+(?:correctly|rightly)|i'?m\s+not\s+mistaken|memory\s+serves)\b",
    _I,
)
# The same after the letter ("I would choose A if forced to"): the quiz forces a choice, so a
# grader takes the letter the reply says it would pick; its doubt is about the question.
FORCED_AFTER = re.compile(
    r"^\s*[)\]]?\s*,?\s*if\s+(?:(?:i\s+(?:am|was|were|'m)\s+)?forced|i\s+(?:must|had\s+to|have\s+to))\b",
    _I,
)
# A reply that finds no option right ("None of the options match", "no option is correct",
# "The answer is not in the options", "The answer is not listed", "$614.58 does not match any
# of the given options").
NO_OPTION = re.compile(
    r"\b(?:none\s+of\s+(?:the|these)\s+(?:options|choices|answers)|no\s+(?:option|choice|answer))"
    r"\s+(?:is|are|match(?:es)?|fits?|seems?)\b|\b(?:don'?t|do\s+not)\s+think\s+any\s+(?:single\s+|one\s+)?"
    r"(?:option|choice|answer|of\s+them)\s+is\b"
    r"|\banswer\s+is\s+not\s+(?:listed|(?:among|in)\s+(?:the\s+)?(?:given\s+|provided\s+|answer\s+)?"
    r"(?:options|choices))|\b(?:does\s+not|doesn'?t|do\s+not|don'?t)\s+match\s+any\s+of\s+the\s+"
    r"(?:given\s+|provided\s+|answer\s+)?(?:options|choices)",
    _I,
)
# A contrast ends the condition's reach ("If ... B; but since ..., C").
CONTRAST = re.compile(r"[;；]|\b(?:but|however|since|because|yet|so|thus|therefore)\b|但|所以", _I)
# A distractor named as such after its letter ("Option C is tempting, but ...").
TEMPTING = re.compile(
    r"^\s*[)\]]?\s*(?:is|seems|looks|may\s+seem|might\s+seem|sounds)\s+(?:\w+\s+)?tempting", _I
)
# Someone else's choice, not the reply's ("You might think it's B", "B is tempting").
ATTRIBUTED = re.compile(
    r"\b(?:might|may|would|could)\s+think\b|\btempt\w*|\b(?:students|people|many|some|others"
    r"|models)\s+(?:\w+\s+){0,2}(?:choose|pick|select|think|say)",
    _I,
)
# A condition after the letter, before any comma ("C would be correct only if the gas were ...").
HYPOTHETICAL_AFTER = re.compile(
    r"^(?:[^.;!?,\n]|[.,](?=\d)){0,80}?(?:\b(?:if|unless|provided|assuming|depending)\b"
    r"|\b(?:would|could|might|wäre|würde|sería|serait|sarebbe)\b(?:[^.;!?,\n]|[.,](?=\d)){0,40}?"
    r"(?:\b(?:if|only|for|with|when|under|unless|depending)\b|,\s*(?:wenn|si|se|falls)\b))",
    _I,
)
# A word that says the reply corrects itself, not only that its working concludes: what an
# answer stated up front needs before a different one after its working ("The answer is (H)
# ... Therefore ... The answer is (C)" leaves two answers, the first never taken back).
EXPLICIT_REVISION = re.compile(
    r"\b(?:wait|actually|re-?check\w*|recomput\w*|reconsider\w*|on\s+second\s+thought"
    r"|on\s+reflection|correct(?:ion|ed)|scratch\s+that|i\s+mean|oops|sorry|typo|instead"
    r"|double[-\s]check\w*|let\s+me\s+re\w*|kidding|mistake|error)\b",
    _I,
)
# Between two different answers, a word that revises the first ("wait", "but", "so", "final").
REVISION = re.compile(
    r"\b(?:wait|actually|no|hmm|re-?check\w*|recomput\w*|reconsider\w*|on\s+second\s+thought"
    r"|on\s+reflection|correct(?:ion|ed|ing)|scratch\s+that|i\s+mean|but|however|so|therefore"
    r"|thus|hence|oops|sorry|typo"
    r"|final(?:ly)?|instead|rather|double[-\s]check\w*|let\s+me\s+re\w*|yes|kidding|stick"
    r"|mais|en\s+fait|après\s+réflexion|finalement|eigentlich|doch|de\s+hecho|en\s+realidad|pensándolo\s+bien)\b"
    r"|不对|所以|因此|故|但|いや|訂正|しかし|でも",
    _I,
)
# After a commitment in a reply that was cut off: it was thinking again when it stopped.
RECONSIDER = re.compile(
    r"\b(?:wait|actually|but|however|hmm|reconsider\w*|on\s+second\s+thought|let\s+me\s+re\w*"
    r"|double[-\s]check\w*)\b",
    _I,
)
# Words that make a sentence a verdict against what it names.
NEGATIVE_WORDS = re.compile(
    r"\b(?:not|no|wrong|incorrect|false|never|too|isn'?t|doesn'?t|fails?|cannot|can't)\b"
    r"|\bnicht\b|错误|不对|誤り|間違",
    _I,
)
# An option named by its place ("the third option"), read like its letter.
ORDINAL = re.compile(
    r"\b(first|second|third|fourth|fifth|last)\s+(?:option|choice|answer|alternative)\b"
    # "select the first one that causes an overflow": the first of those it found, not A.
    r"|\bthe\s+(first|second|third|fourth|fifth|last)\s+one\b"
    r"(?!\s+(?:of|that|which|who|where|to|in|on|with|from|we|i|you|listed|mentioned)\b)",
    _I,
)
ORDINALS = {"first": 0, "second": 1, "third": 2, "fourth": 3, "fifth": 4, "last": -1}
# A label or name that a capital letter belongs to, not an option ("vitamin C", "Plan A").
NAMED = re.compile(
    r"\b(?:vitamin|hepatitis|type|plan|appendix|annex|figure|fig\.|table|schedule|section|part"
    r"|step|route|class|grade|phase|group|category|level|zone|model|series|version|exhibit"
    r"|column|row|tier|sample|reactor|tank|vessel|compound|isomer|form|point|case)\s*$",
    _I,
)
# Words after which a capital "A" is still a letter ("A is wrong", "A because ...").
LETTER_FOLLOWERS = frozenset(
    {"is", "was", "would", "will", "could", "seems", "seem", "looks", "appears", "fits",
     "matches", "gives", "best", "because", "since", "as", "and", "or", "but", "then", "so",
     "which", "only", "alone", "it", "nor", "are", "accounts", "stands", "must", "should",
     "if", "here", "now", "too", "again", "instead", "though", "rather", "unless",
     "at", "in", "of", "with", "by", "from", "on", "y", "o", "und", "oder", "et", "ou", "e",
     "ist", "est", "es", "è", "wählen", "nehmen", "ankreuzen",
     "the"}
)  # fmt: skip
