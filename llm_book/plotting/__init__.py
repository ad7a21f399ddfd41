"""Figures the chapters share, one module per kind of figure.

Every helper takes ``ax=None`` (a new figure when None), returns the ``Axes``,
never calls ``plt.show()``, labels axes with the tokens and uses
colour-blind-safe colours (viridis / cividis and the Okabe-Ito palette).

* ``attention``: heatmaps of attention weights, binary attention masks, similarity matrices.
* ``distributions``: the chain rule, next-token distributions, several distributions side by
  side, what a sampling filter keeps, sampled frequencies.
* ``flowcharts``: Mermaid flowcharts, generation step by step, information flow (RNN or attention).
* ``training``: loss curves, accuracy against the number of labels, scaling laws.
* ``timeline``: landmark models, parameters against release date.
* ``applications``: grouped scores (dialogue, summarisation), translation alignments with a CJK
  font, reliability diagrams (calibration).
* ``_common``: the palette ``OKABE_ITO`` and the helpers the modules share.

Import from the package: ``from llm_book.plotting import plot_attention``.
"""

from llm_book.plotting._common import OKABE_ITO
from llm_book.plotting._common import _as_array  # noqa: F401  (private; tests/test_devices.py imports it)
from llm_book.plotting.applications import cjk_font, plot_alignment, plot_grouped_scores, plot_reliability_diagram
from llm_book.plotting.attention import plot_attention, plot_mask, plot_similarity_matrix
from llm_book.plotting.distributions import (plot_chain_rule, plot_distributions, plot_filtered_distribution,
                                             plot_next_token_distribution, plot_sample_frequencies)
from llm_book.plotting.flowcharts import (parse_mermaid, plot_flowchart, plot_generation_steps,
                                          plot_information_flow)
from llm_book.plotting.timeline import plot_landmark_timeline
from llm_book.plotting.training import plot_accuracy_vs_labels, plot_loss_curve, plot_scaling_law

__all__ = [
    "OKABE_ITO",
    # attention
    "plot_attention", "plot_mask", "plot_similarity_matrix",
    # distributions
    "plot_chain_rule", "plot_next_token_distribution", "plot_distributions", "plot_filtered_distribution",
    "plot_sample_frequencies",
    # flowcharts
    "parse_mermaid", "plot_flowchart", "plot_generation_steps", "plot_information_flow",
    # training
    "plot_loss_curve", "plot_accuracy_vs_labels", "plot_scaling_law",
    # timeline
    "plot_landmark_timeline",
    # applications
    "cjk_font", "plot_grouped_scores", "plot_alignment", "plot_reliability_diagram",
]
