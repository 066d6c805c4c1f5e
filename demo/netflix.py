"""The book of leanpub-book-page.txt, as demo data: its real texts and contents."""

SLUG = "behindthestack-netflix-architecture"
TITLE = "BehindTheStack: The Evolution of Netflix's Architecture"
SUBTITLE = "Stop copying design patterns without understanding the problems that created them."

BLURB = """\
Netflix’s architecture wasn't drawn on a pristine whiteboard; it was forged by critical failures. \
In this book, we dive into the technical backstage of the world's largest streaming platform to \
understand the real trade-offs behind microservices, resilience, and global scale.

Avoiding the hype and focusing purely on engineering, BehindTheStack dissects how the monolith was \
shattered, how data persistence evolved, and how a culture of freedom and responsibility shaped the code.

Written for Architects, Tech Leads, and Senior Engineers who demand depth beyond shallow tutorials. \
Grab the Early Access version and follow the making of this scale survival manual.
"""

ABOUT = """\
**You are not Netflix. But you need to understand how they survived.**

This is not a book about how to copy Netflix's architecture. It is a study of how engineering \
decisions are made under extreme pressure—when scale, real-world failures, and physical limits make \
any "master plan" drawn on a whiteboard completely unviable.

Based on over a decade of technical archaeology, BehindTheStack reconstructs the platform's actual \
evolution using public sources: Netflix Tech Blog posts, technical presentations, open-source \
repositories, and historical records available at the time of each decision. The goal is not to \
praise the solutions, but to expose the reasoning behind them.

Throughout the book, the focus is not on generic patterns or universal best practices, but on the \
hard trade-offs faced by teams that had to decide fast, fail in production, and abandon systems that \
could no longer sustain the business's survival. Many readers describe the book not as a reference \
manual to be consulted occasionally, but as a narrative that naturally leads from one decision to the \
next—driven not by curiosity about the solution, but by clarity of the problem.

The trajectory presented goes beyond infrastructure. It reveals how architecture, culture, and \
organization evolve together when the cost of failure is too high to ignore.

### What you will find in this book

- **The Survival Era:** Why the monolith stopped scaling, the catastrophic 2008 database failure, and \
the event that made cloud migration inevitable.
- **Infrastructure as Strategy:** The real role of Open Connect, last-mile delivery, and the \
resilience experiments that shaped the platform.
- **Microservices Without the Hype:** How fragmentation emerged as an organizational and operational \
necessity—not a market trend.
- **Data, Events, and Real-Time:** The transition from batch pipelines to event-driven architectures, \
Data Mesh, and continuous processing as a response to the explosion of scale.
- **Engineering Culture:** How Netflix reduced friction between developers and infrastructure by \
replacing central control with principles, contracts, and extreme ownership.
"""

EARLY_ACCESS_NOTE = """\
This project adopts an iterative publishing model. The current version already provides the \
technical core of the book:

- Part I (Deconstructing the Monolith — Chapters 1 to 3)
- Part II (Data and Stack Evolution — Chapters 4 to 6)
- Part III (Decisions and Trade-offs — Chapters 7 to 9)

Parts IV (Engineering Philosophy) and V (Lessons Learned) are currently in development and will be \
integrated in upcoming cycles. Purchasing during this early access phase guarantees all future \
updates up to the final 1.0 release, reflecting the current scope of the project.
"""

AUTHOR_NAME = "Raphael Silva Fontes"
AUTHOR_BIO = """\
Applied Research Engineer with over 9 years of experience leading high-impact digital \
transformation initiatives in the public sector.

I specialize in natural language processing (NLP), machine learning, and data architecture, \
combining applied research with robust engineering to build scalable, interoperable, and socially \
impactful platforms. My work bridges technical excellence with institutional and civic \
responsibility, delivering data-driven solutions to complex challenges in public health, education, \
and government transparency.

I integrate NLP and ML techniques to address real-world problems in health informatics. I lead the \
data strategy, building platforms with Python/Django and modern tools like Elasticsearch and Apache \
Airflow.

Recognitions: 3x Gold, 3x Silver, 34x Bronze Medals on Kaggle (Google), Finalist - Prêmio Brasil \
Referência em Dados, and awarded Servidor Destaque at IFS.

I’ve led critical projects such as Pé-de-Meia, academic analytics platforms (BIA), vaccination \
tracking systems, and education infrastructure (Google Workspace Central), delivering high social \
value with minimal resources.

I'm passionate about bridging research and engineering to create smart, ethical, and impactful \
public tech solutions. Let’s connect if you're into applied data science, open innovation, or \
building a better society with code.
"""

ORIGINAL_SLUG = "behindthestack-a-evolucao-da-arquitetura-da-netflix"
ORIGINAL_TITLE = "BehindTheStack — A Evolução da Arquitetura da Netflix"
ORIGINAL_SUBTITLE = "Pare de copiar padrões de projeto sem entender os problemas que os criaram."

# The table of contents as authors type it (catalog.services.parse_toc).
TOC = """\
Preface [sample]
# Part I — Context and Constraints
- Chapter 1: Global Scale at the Last Mile [sample]
- Chapter 2: When the Monolith Stopped Scaling
- Chapter 3: The Microservices Foundation with Spring Boot
# Part II — From Structure to Flow
- Chapter 4: The Silence of Data — Access Abstraction at Scale
- Chapter 5: When State Is Not Enough — The Birth of the Stream
- Chapter 6: The Real-Time Distributed Graph (RDG)
# Part III — When the System Gains Consciousness
- Chapter 7: The Orchestration Dilemma — From Conductor to Maestro
- Chapter 8: Live Events and the Thundering Herd Problem
- Chapter 9: Consistency vs. Latency — The Custom Write-Ahead Log
"""

PREFACE = """\
Every architecture diagram you have seen of Netflix is a photograph of a moment. This book is about \
the film: the sequence of failures, constraints and bets that produced each of those moments.

We follow the decisions in the order they were made, with the information available at the time. \
Where the public record is thin, we say so.
"""

CHAPTER_1 = """\
Streaming video at global scale is, before anything else, a physics problem. Bits must cross \
oceans, traverse peering points and arrive at a living-room television within a few hundred \
milliseconds of a press on the remote.

## The last mile

The most expensive and least predictable part of the path is the last mile: the access network \
of the viewer's internet provider. No amount of cleverness in a data centre can compensate for a \
congested link a few kilometres from the viewer.

## Moving the content closer

The answer was to stop treating delivery as someone else's problem:

- place caches *inside* provider networks,
- fill them during off-peak hours,
- steer each client to the closest healthy copy.

```
client -> steering service -> nearest appliance -> video segments
```

The rest of the book shows how this choice shaped everything built above it.
"""


SAMPLE_CHAPTERS = {"Preface", "Chapter 1: Global Scale at the Last Mile"}


def chapter_texts() -> list[tuple[str, str, str]]:
    """(part, chapter title, Markdown) for the demo book's generated files."""
    parts = {
        "Part I — Context and Constraints": [
            ("Chapter 1: Global Scale at the Last Mile", CHAPTER_1),
            ("Chapter 2: When the Monolith Stopped Scaling", _placeholder("the monolith")),
            ("Chapter 3: The Microservices Foundation with Spring Boot", _placeholder("services")),
        ],
        "Part II — From Structure to Flow": [
            ("Chapter 4: The Silence of Data — Access Abstraction at Scale", _placeholder("data")),
            (
                "Chapter 5: When State Is Not Enough — The Birth of the Stream",
                _placeholder("streams"),
            ),
            ("Chapter 6: The Real-Time Distributed Graph (RDG)", _placeholder("graphs")),
        ],
        "Part III — When the System Gains Consciousness": [
            (
                "Chapter 7: The Orchestration Dilemma — From Conductor to Maestro",
                _placeholder("workflows"),
            ),
            ("Chapter 8: Live Events and the Thundering Herd Problem", _placeholder("live events")),
            (
                "Chapter 9: Consistency vs. Latency — The Custom Write-Ahead Log",
                _placeholder("logs"),
            ),
        ],
    }
    texts = [("", "Preface", PREFACE)]
    for part, chapters in parts.items():
        texts.extend((part, title, body) for title, body in chapters)
    return texts


def _placeholder(topic: str) -> str:
    return (
        f"This chapter of the demo edition follows the decisions about {topic}: what broke, what "
        "was tried first, and which trade-off was finally accepted.\n\n"
        "## What changed\n\nThe constraints of the previous chapter made the old approach "
        "untenable. The team chose the option that failed in the most predictable way.\n\n"
        "## What it cost\n\nEvery gain in availability was paid for in operational complexity, "
        "and the chapter closes with the bill."
    )
