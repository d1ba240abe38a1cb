//! Keeping some classes of a dataset (transfer learning: pre-train on
//! digits 0–4, fine-tune on 5–9): the samples of the listed classes, in
//! their order, relabelled 0..k-1 in the order the classes are listed.

use super::{Dataset, Features, TrainTest};

impl Dataset {
    /// The samples whose label is in `classes`, relabelled by position.
    pub fn keep_classes(&self, classes: &[u8]) -> Result<Dataset, String> {
        if let Some(&c) = classes.iter().find(|&&c| c as usize >= self.classes) {
            return Err(format!("class {c} is not in this dataset (it has {} classes)", self.classes));
        }
        let mut map = [u8::MAX; 256];
        for (new, &old) in classes.iter().enumerate() {
            map[old as usize] = new as u8;
        }
        let keep: Vec<usize> = (0..self.len()).filter(|&i| map[self.labels[i] as usize] != u8::MAX).collect();
        let d = self.dim;
        let features = match &self.features {
            Features::U8(f) => Features::U8(keep.iter().flat_map(|&i| f[i * d..(i + 1) * d].iter().copied()).collect()),
            Features::F32(f) => {
                Features::F32(keep.iter().flat_map(|&i| f[i * d..(i + 1) * d].iter().copied()).collect())
            }
        };
        let labels = keep.iter().map(|&i| map[self.labels[i] as usize]).collect();
        Ok(Dataset { features, labels, dim: d, classes: classes.len(), image: self.image })
    }
}

impl TrainTest {
    /// Both sets with only `classes`, relabelled; the name says which.
    pub fn keep_classes(&self, classes: &[u8]) -> Result<TrainTest, String> {
        let list: Vec<String> = classes.iter().map(u8::to_string).collect();
        Ok(TrainTest {
            name: format!("{} [{}]", self.name, list.join(",")),
            train: self.train.keep_classes(classes)?,
            test: self.test.keep_classes(classes)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_classes_are_relabelled_in_the_order_listed() {
        let d = Dataset {
            features: Features::U8(vec![0, 1, 2, 3, 4, 5, 6, 7]),
            labels: vec![0, 3, 1, 3],
            dim: 2,
            classes: 4,
            image: None,
        };
        let k = d.keep_classes(&[3, 1]).unwrap();
        assert_eq!(k.labels, vec![0, 1, 0]);
        assert_eq!(k.features, Features::U8(vec![2, 3, 4, 5, 6, 7]));
        assert_eq!(k.classes, 2);
        assert!(d.keep_classes(&[4]).unwrap_err().contains("class 4"));
    }
}
