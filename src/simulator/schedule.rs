//! A dedicated cluster's Cloud Backup policy in neutral form ([`SimSchedule`]), and the
//! arithmetic Atlas' `GET …/backup/schedule` answer depends on: when the next scheduled snapshot
//! is due after a given time, and which policy item a scheduled snapshot belongs to.
//!
//! The vocabulary is Atlas' (`frequencyType` hourly/daily/weekly/monthly/yearly with its
//! `frequencyInterval`, `retentionUnit` days/weeks/months/years with its `retentionValue`),
//! as recorded from `GET /api/atlas/v2/groups/{id}/clusters/{name}/backup/schedule`. Nothing
//! here knows about HTTP; `render` writes the wire shape.

use super::copies::SimCopies;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// How often a policy item takes a snapshot, with Atlas' `frequencyInterval` meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimFrequency {
    /// `hourly`, every this many hours (Atlas offers 1, 2, 4, 6, 8 and 12), counted from the
    /// schedule's reference time of day.
    Hourly(u8),
    /// `daily` (`frequencyInterval: 1`), at the reference time.
    Daily,
    /// `weekly` on this ISO weekday (1 Monday … 7 Sunday), at the reference time.
    Weekly(u8),
    /// `monthly` on this day of the month (1-28), or `40` for the last day, at the reference time.
    Monthly(u8),
    /// `yearly` on the first day of this month (1-12), at the reference time.
    Yearly(u8),
}

impl SimFrequency {
    /// The wire `frequencyType`.
    pub fn frequency_type(self) -> &'static str {
        match self {
            SimFrequency::Hourly(_) => "hourly",
            SimFrequency::Daily => "daily",
            SimFrequency::Weekly(_) => "weekly",
            SimFrequency::Monthly(_) => "monthly",
            SimFrequency::Yearly(_) => "yearly",
        }
    }

    /// The wire `frequencyInterval`.
    pub fn frequency_interval(self) -> u8 {
        match self {
            SimFrequency::Hourly(n)
            | SimFrequency::Weekly(n)
            | SimFrequency::Monthly(n)
            | SimFrequency::Yearly(n) => n,
            SimFrequency::Daily => 1,
        }
    }
}

/// The unit of a policy item's retention (`retentionUnit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetentionUnit {
    /// `days`.
    Days,
    /// `weeks`.
    Weeks,
    /// `months`.
    Months,
    /// `years`.
    Years,
}

impl RetentionUnit {
    /// The wire `retentionUnit`.
    pub fn as_str(self) -> &'static str {
        match self {
            RetentionUnit::Days => "days",
            RetentionUnit::Weeks => "weeks",
            RetentionUnit::Months => "months",
            RetentionUnit::Years => "years",
        }
    }
}

/// One item of a backup policy: a frequency and how long its snapshots are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimPolicyItem {
    /// When it takes snapshots.
    pub frequency: SimFrequency,
    /// The unit of `retention_value`.
    pub retention_unit: RetentionUnit,
    /// How many `retention_unit`s a snapshot is kept.
    pub retention_value: u32,
}

impl SimPolicyItem {
    /// Every `hours` hours, kept `days` days.
    pub fn hourly(hours: u8, days: u32) -> SimPolicyItem {
        SimPolicyItem::new(SimFrequency::Hourly(hours), RetentionUnit::Days, days)
    }

    /// Daily, kept `days` days.
    pub fn daily(days: u32) -> SimPolicyItem {
        SimPolicyItem::new(SimFrequency::Daily, RetentionUnit::Days, days)
    }

    /// Weekly on ISO weekday `weekday` (1 Monday … 7 Sunday), kept `weeks` weeks.
    pub fn weekly(weekday: u8, weeks: u32) -> SimPolicyItem {
        SimPolicyItem::new(SimFrequency::Weekly(weekday), RetentionUnit::Weeks, weeks)
    }

    /// Monthly on day `day` (1-28, or 40 for the last day), kept `months` months.
    pub fn monthly(day: u8, months: u32) -> SimPolicyItem {
        SimPolicyItem::new(SimFrequency::Monthly(day), RetentionUnit::Months, months)
    }

    /// Any frequency and retention.
    pub fn new(frequency: SimFrequency, unit: RetentionUnit, value: u32) -> SimPolicyItem {
        SimPolicyItem {
            frequency,
            retention_unit: unit,
            retention_value: value,
        }
    }

    /// The retention in days (a month is 31 days and a year 366, the longest they can be).
    pub fn retention_days(&self) -> i64 {
        let per_unit = match self.retention_unit {
            RetentionUnit::Days => 1,
            RetentionUnit::Weeks => 7,
            RetentionUnit::Months => 31,
            RetentionUnit::Years => 366,
        };
        i64::from(self.retention_value) * per_unit
    }
}

/// A dedicated cluster's backup policy: its items (Atlas keeps them in `policies[0]`), the
/// continuous-backup restore window and the reference time of day every item is anchored at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimSchedule {
    /// The policy items, in the order the schedule lists them.
    pub items: Vec<SimPolicyItem>,
    /// `restoreWindowDays`.
    pub restore_window_days: u32,
    /// `referenceHourOfDay` and `referenceMinuteOfHour` (UTC). `None`: the time of day of the
    /// cluster's newest scheduled snapshot (02:00 when it has none), so that the schedule
    /// agrees with the daily or weekly history it is served next to (set it for an hourly
    /// history, whose newest snapshot may lie at any of its slots).
    pub reference: Option<(u8, u8)>,
    /// `copySettings`, auto export, and the regions snapshots list as copied.
    pub copies: SimCopies,
}

impl Default for SimSchedule {
    /// Atlas' default policy for a new dedicated cluster as far as this simulator models it:
    /// one daily item kept 7 days, a 7-day restore window (as recorded).
    fn default() -> Self {
        SimSchedule {
            items: vec![SimPolicyItem::daily(7)],
            restore_window_days: 7,
            reference: None,
            copies: SimCopies::default(),
        }
    }
}

impl SimSchedule {
    /// A schedule of these items, with the 7-day restore window and a derived reference time.
    pub fn of(items: Vec<SimPolicyItem>) -> SimSchedule {
        SimSchedule {
            items,
            ..SimSchedule::default()
        }
    }

    /// The first scheduled time strictly after `now` over every item; `None` without items.
    pub(crate) fn next_after(&self, reference: (u8, u8), now: Timestamp) -> Option<Timestamp> {
        self.items
            .iter()
            .filter_map(|item| next_for(item.frequency, reference, now))
            .min()
    }

    /// The item a scheduled snapshot taken at `scheduled` belongs to: the first item whose
    /// times include it, preferring the longest-kept (a 02:00 snapshot of an hourly + daily
    /// policy is the daily one, as Atlas keeps it the longest); else the first item.
    pub(crate) fn item_for(
        &self,
        reference: (u8, u8),
        scheduled: Timestamp,
    ) -> Option<(usize, &SimPolicyItem)> {
        let matching = self
            .items
            .iter()
            .enumerate()
            .filter(|(_, item)| takes_at(item.frequency, reference, scheduled))
            .max_by_key(|(index, item)| (item.retention_days(), std::cmp::Reverse(*index)));
        matching.or_else(|| self.items.first().map(|item| (0, item)))
    }
}

fn utc(ts: Timestamp) -> jiff::civil::DateTime {
    ts.to_zoned(TimeZone::UTC).datetime()
}

fn at(date: Date, (hour, minute): (u8, u8)) -> Option<Timestamp> {
    let hour = i8::try_from(hour % 24).ok()?;
    let minute = i8::try_from(minute % 60).ok()?;
    date.at(hour, minute, 0, 0)
        .to_zoned(TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

fn weekday(n: u8) -> Weekday {
    Weekday::from_monday_one_offset(i8::try_from(n.clamp(1, 7)).unwrap_or(1))
        .unwrap_or(Weekday::Monday)
}

/// Whether the day `date` is one this frequency takes its (first) snapshot on.
fn on_day(frequency: SimFrequency, date: Date) -> bool {
    match frequency {
        SimFrequency::Hourly(_) | SimFrequency::Daily => true,
        SimFrequency::Weekly(n) => date.weekday() == weekday(n),
        SimFrequency::Monthly(40) => date == date.last_of_month(),
        SimFrequency::Monthly(n) => i32::from(date.day()) == i32::from(n),
        SimFrequency::Yearly(month) => {
            i32::from(date.month()) == i32::from(month) && date.day() == 1
        }
    }
}

fn takes_at(frequency: SimFrequency, reference: (u8, u8), ts: Timestamp) -> bool {
    let date = utc(ts).date();
    let Some(anchor) = at(date, reference) else {
        return false;
    };
    match frequency {
        SimFrequency::Hourly(n) => {
            let step = i64::from(n.max(1)) * 3_600;
            (ts.as_second() - anchor.as_second()).rem_euclid(step) == 0
        }
        other => on_day(other, date) && anchor == ts,
    }
}

/// The first time after `now` that `frequency` takes a snapshot.
fn next_for(frequency: SimFrequency, reference: (u8, u8), now: Timestamp) -> Option<Timestamp> {
    let today = utc(now).date();
    if let SimFrequency::Hourly(n) = frequency {
        let step = i64::from(n.max(1)) * 3_600;
        let anchor = at(today, reference)?.as_second();
        let elapsed = now.as_second() - anchor;
        let next = anchor + (elapsed.div_euclid(step) + 1) * step;
        return Timestamp::from_second(next).ok();
    }
    // At most a year and a day of days to look through, for a yearly item.
    (0..=367)
        .filter_map(|offset: i64| today.checked_add(offset.days()).ok())
        .filter(|date| on_day(frequency, *date))
        .filter_map(|date| at(date, reference))
        .find(|ts| *ts > now)
}

/// The time of day of a timestamp (UTC), as a reference time.
pub(crate) fn time_of_day(ts: Timestamp) -> (u8, u8) {
    let dt = utc(ts);
    (
        u8::try_from(dt.hour()).unwrap_or(0),
        u8::try_from(dt.minute()).unwrap_or(0),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_recorded_hourly_schedule_is_next_due_six_hours_after_its_reference() {
        // Recorded: reference 03:16, hourly every 6 h, asked at 03:16:54 → next 09:16.
        let s = SimSchedule::of(vec![
            SimPolicyItem::hourly(6, 7),
            SimPolicyItem::daily(7),
            SimPolicyItem::weekly(6, 4),
            SimPolicyItem::monthly(40, 12),
        ]);
        assert_eq!(
            s.next_after((3, 16), ts("2026-08-10T03:16:54Z")),
            Some(ts("2026-08-10T09:16:00Z"))
        );
    }

    #[test]
    fn each_frequency_finds_its_next_time() {
        let now = ts("2026-11-22T12:00:00Z"); // a Sunday
        let next = |f| next_for(f, (2, 0), now).unwrap();
        assert_eq!(next(SimFrequency::Daily), ts("2026-11-23T02:00:00Z"));
        assert_eq!(next(SimFrequency::Hourly(6)), ts("2026-11-22T14:00:00Z"));
        assert_eq!(next(SimFrequency::Weekly(6)), ts("2026-11-28T02:00:00Z"));
        assert_eq!(next(SimFrequency::Monthly(40)), ts("2026-11-30T02:00:00Z"));
        assert_eq!(next(SimFrequency::Monthly(1)), ts("2026-12-01T02:00:00Z"));
        assert_eq!(next(SimFrequency::Yearly(1)), ts("2027-01-01T02:00:00Z"));
    }

    #[test]
    fn a_snapshot_at_the_reference_time_belongs_to_the_longest_kept_item() {
        let s = SimSchedule::of(vec![SimPolicyItem::hourly(6, 2), SimPolicyItem::daily(7)]);
        let item = |t| s.item_for((2, 0), ts(t)).map(|(i, _)| i);
        assert_eq!(item("2026-11-22T02:00:00Z"), Some(1));
        assert_eq!(item("2026-11-22T08:00:00Z"), Some(0));
        assert_eq!(
            SimSchedule::default()
                .item_for((2, 0), ts("2026-11-22T05:00:00Z"))
                .map(|(i, _)| i),
            Some(0)
        );
    }
}
