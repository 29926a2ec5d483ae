/*-------------------------------------------------------------------------
 *
 * bar.c
 *		The progress bar on a terminal's stderr, redrawn in place:
 *
 *		  3/7 slices [=========>           ]  42%  1500 rows  620 rows/s  00:02 elapsed  ETA 00:03  staging
 *
 * Each draw starts with a carriage return and pads over what the previous
 * one left; the bar part is dropped when the terminal is too narrow.  The
 * caller draws only when stderr is a terminal: piped output never carries
 * a carriage return.
 *
 * Copyright (c) 2026, fs_backfill authors
 *
 * IDENTIFICATION
 *	  bin/bar.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include "fs_backfill_cli.h"

#define BAR_WIDTH	24

static int	last_len = 0;		/* characters on the line now */

static int
terminal_columns(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

/* Writes a duration as MM:SS, or H:MM:SS from an hour on. */
void
fsb_format_duration(char *buf, size_t len, double seconds)
{
	long		s = seconds < 0 ? 0 : (long) (seconds + 0.5);

	if (s >= 3600)
		snprintf(buf, len, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
	else
		snprintf(buf, len, "%02ld:%02ld", s / 60, s % 60);
}

static void
render(const FsbProgress *p, char *line, size_t len, bool with_bar)
{
	char		bar[BAR_WIDTH + 3];
	char		elapsed[16];
	char		eta[24];
	int			pct = p->total > 0 ? (int) (100.0 * p->done / p->total) : 0;
	int			filled = p->total > 0 ? BAR_WIDTH * p->done / p->total : 0;
	double		rate = p->elapsed > 0 ? p->rows / p->elapsed : 0;
	int			i;

	bar[0] = '[';
	for (i = 0; i < BAR_WIDTH; i++)
		bar[i + 1] = i < filled ? '=' : (i == filled ? '>' : ' ');
	bar[BAR_WIDTH + 1] = ']';
	bar[BAR_WIDTH + 2] = '\0';

	fsb_format_duration(elapsed, sizeof(elapsed), p->elapsed);
	if (p->done > 0 && p->done < p->total)
	{
		strcpy(eta, "ETA ");
		fsb_format_duration(eta + 4, sizeof(eta) - 4,
							p->elapsed * (p->total - p->done) / p->done);
	}
	else
		strcpy(eta, p->done >= p->total && p->total > 0 ? "ETA 00:00" : "ETA --:--");

	snprintf(line, len, "%d/%d slices%s%s %3d%%  %lld rows  %.0f rows/s  %s elapsed  %s  %s",
			 p->done, p->total, with_bar ? " " : "", with_bar ? bar : "",
			 pct, p->rows, rate, elapsed, eta, p->phase ? p->phase : "");
}

/* Redraws the bar in place. */
void
fsb_bar_draw(const FsbProgress *p)
{
	char		line[512];
	int			cols = terminal_columns();
	int			len;

	render(p, line, sizeof(line), true);
	len = strlen(line);
	if (len >= cols)
	{
		render(p, line, sizeof(line), false);
		len = strlen(line);
		if (len >= cols)
			line[len = cols - 1] = '\0';
	}
	fprintf(stderr, "\r%s%*s", line, last_len > len ? last_len - len : 0, "");
	if (last_len > len)
		fprintf(stderr, "\r%s", line);
	last_len = len;
	fflush(stderr);
}

/* Draws the bar a last time and ends its line. */
void
fsb_bar_finish(const FsbProgress *p)
{
	fsb_bar_draw(p);
	fputc('\n', stderr);
	last_len = 0;
}

/* Ends the bar's line, if one is drawn, so that a message can follow. */
void
fsb_bar_clear(void)
{
	if (last_len > 0)
		fputc('\n', stderr);
	last_len = 0;
	fflush(stderr);
}
