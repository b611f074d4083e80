using Lucene.Net.Analysis;
using Lucene.Net.Analysis.En;
using Lucene.Net.Analysis.TokenAttributes;
using Lucene.Net.Util;

namespace Catalogs.Text;

/// <summary>Text into the terms an index keeps: Lucene's English analyzer (standard tokenizer, possessives,
/// lower case, English stop words, Porter stemming), so "Apples" and "apple" meet and "the" does not count.
/// Thread-safe: Lucene analyzers reuse one token stream per thread.</summary>
public static class TextAnalyzer
{
    static readonly Analyzer English = new EnglishAnalyzer(LuceneVersion.LUCENE_48);

    /// <summary>At most this many terms of one text are read (a description, not a book).</summary>
    public const int MaxTerms = 4096;

    public static List<string> Terms(string? text)
    {
        var terms = new List<string>();
        if (string.IsNullOrWhiteSpace(text)) return terms;
        using var stream = English.GetTokenStream("text", text);
        var term = stream.AddAttribute<ICharTermAttribute>();
        stream.Reset();
        while (terms.Count < MaxTerms && stream.IncrementToken()) terms.Add(term.ToString());
        stream.End();
        return terms;
    }
}
