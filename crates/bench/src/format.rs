//! Numbers as the report writes them: grouped thousands, milliseconds to three
//! significant figures or so, ratios to the ceiling, CPU cores.

/// `12345.6` → `12,346`.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn times(ratio: Option<f64>) -> String {
    match ratio {
        Some(r) if r >= 10.0 => format!("{r:.0}×"),
        Some(r) => format!("{r:.2}×"),
        None => "–".into(),
    }
}

pub fn ms(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// CPU cores of the server / the benchmark / other processes.
pub fn cores(server: f64, bench: f64, others: f64) -> String {
    format!("{server:.2} / {bench:.2} / {others:.2}")
}

/// Requests a second: whole numbers, or one decimal under 10.
pub fn rate(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.1}")
    } else {
        thousands(value)
    }
}

pub fn mb(value: Option<f64>) -> String {
    value.map_or_else(|| "–".into(), |v| format!("{v:.1}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1234.5), "1,234");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
    }
}
